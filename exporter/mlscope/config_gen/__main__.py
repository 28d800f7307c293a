"""``mlscope config --out DIR``: write the rules, their tests, routing, dashboards and docs.

``python -m mlscope.config_gen`` is the same command with ``--out`` defaulting to the
current folder (the repository's ``make generate``). Either refuses to replace a file
that it did not write (see :mod:`mlscope.config_gen.output`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mlscope.config_gen.config import load
from mlscope.config_gen.generate import write
from mlscope.errors import ConfigError


def config_command(args: argparse.Namespace) -> int:
    """Generate into ``args.out`` with the settings of ``args.settings``; print each path written."""
    try:
        cfg = load(path=args.settings)
        written = write(cfg, Path(args.out))
    except (ConfigError, OSError) as e:
        print(f"mlscope config: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlscope.config_gen", description=__doc__)
    parser.add_argument("--out", default=".", help="root folder to write into (default: %(default)s)")
    parser.add_argument(
        "--config", "--settings", dest="settings", help="YAML file of settings over the defaults"
    )
    return config_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
