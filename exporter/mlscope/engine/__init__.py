"""The pure engine: profiles, binning, windows, drift, data quality, outliers, quality.

No sockets, no files (except ``Profile.save``/``load``), no clock reads: time is
passed in as ``now`` (Unix seconds), so every result is reproducible in tests.
"""
