"""Tests of the sidecar exporter (mlscope serve)."""
