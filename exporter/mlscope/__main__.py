"""``python -m mlscope`` is the same as the ``mlscope`` console script."""

from mlscope.cli import main

raise SystemExit(main())
