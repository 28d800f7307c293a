"""``python -m mlscope.config_gen``: regenerate rules, tests, routing, dashboards and docs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mlscope.config_gen.config import load
from mlscope.config_gen.generate import write
from mlscope.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlscope.config_gen", description=__doc__)
    parser.add_argument("--out", default=".", help="root folder to write into (default: %(default)s)")
    parser.add_argument("--config", help="YAML file overriding values of the default configuration")
    args = parser.parse_args(argv)
    try:
        cfg = load(path=args.config)
    except (ConfigError, OSError) as e:
        print(f"mlscope.config_gen: {e}", file=sys.stderr)
        return 2
    for path in write(cfg, Path(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
