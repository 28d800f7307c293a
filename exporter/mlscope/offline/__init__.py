"""Offline checks: whole data sets and files against a reference profile, outside a live engine.

==============  ==========================================================================
``compare``     drift of a data set against a profile (``compare``), ``mlscope compare``
``profiling``   ``mlscope profile``: a profile of a data file larger than memory
``replay``      ``mlscope replay``: a past prediction log through tumbling windows
``files``       data files (.csv, .parquet, .jsonl) read in chunks; the progress bar
==============  ==========================================================================

The engine (``mlscope.engine``) reads no files and imports nothing from here.
"""
