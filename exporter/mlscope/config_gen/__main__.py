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

from mlscope.config_gen.config import Config, load
from mlscope.config_gen.generate import secret_files, write
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
    for line in next_steps(cfg, Path(args.out)):
        print(line, file=sys.stderr)
    return 0


def next_steps(cfg: Config, out: Path) -> list[str]:
    """What the written folder scrapes, how to run it, and each secret still a placeholder.

    Each would otherwise be found only by a silent Prometheus (a scrape target that is the
    demo's, not the user's app) or by Alertmanager's log (a notification to a placeholder).
    """
    jobs = " and ".join(
        f"{role} job {cfg.job(role)!r} at {cfg.get(f'jobs.{role}.local')}" for role in ("app", "sidecar")
    )
    lines = [
        f"mlscope config: Prometheus scrapes {jobs} (settings 'jobs.app.local', 'jobs.sidecar.local'; "
        "docs/settings.md)",
        f"mlscope config: run: prometheus --config.file={out / 'prometheus' / 'prometheus.yml'}; and from "
        f"{out / 'alertmanager'}: alertmanager --config.file=alertmanager.yml (Debian names it "
        "prometheus-alertmanager; it reads the secrets/ files relative to that folder)",
    ]
    for rel, text in secret_files(cfg).items():
        path = out / rel
        if path.is_file() and path.read_text() == text:
            lines.append(
                f"mlscope config: warning: {path} holds a placeholder: Alertmanager cannot notify through "
                f"it until you write the real secret there, or turn that receiver off with "
                "'alerting.<receiver>: null' in --settings (docs/settings.md#alerting)"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlscope.config_gen", description=__doc__)
    parser.add_argument("--out", default=".", help="root folder to write into (default: %(default)s)")
    parser.add_argument(
        "--config", "--settings", dest="settings", help="YAML file of settings over the defaults"
    )
    return config_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
