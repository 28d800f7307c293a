"""The sidecar exporter (``mlscope serve``): config, HTTP app, log tailing, snapshots."""
