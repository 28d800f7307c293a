"""Single place the package version lives (read by pyproject via setuptools dynamic)."""

__version__ = "0.1.0"
