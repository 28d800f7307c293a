"""A browser preview of the shipped Grafana dashboards, for where no Grafana runs.

It reads ``grafana/dashboards/*.json`` (the files Grafana is provisioned with: one source
for every panel), asks Prometheus for each panel's queries as Grafana would, and draws
them with plotly.js in the dashboard's grid. ``mlscope demo`` serves it; the docker stack
keeps real Grafana.

- :mod:`mlscope.preview.templating`: dashboard variables, built-in intervals, legends.
- :mod:`mlscope.preview.frames`: Prometheus answers shaped into what a panel draws.
- :mod:`mlscope.preview.app`: the Starlette app and ``python -m mlscope.preview``.
"""
