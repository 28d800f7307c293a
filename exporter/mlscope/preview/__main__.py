"""``python -m mlscope.preview --prometheus URL --dashboards grafana/dashboards --port 3001``."""

from mlscope.preview.app import main

raise SystemExit(main())
