"""The ``mlscope`` command line: one parser, subcommands dispatched lazily.

Each subcommand's arguments are declared here, so ``mlscope --help`` documents every
option in one place; its implementation lives beside the code it drives and is
imported only when the subcommand runs (``module:function``, taking the parsed
namespace and returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from mlscope._version import __version__

_Adder = Callable[[argparse.ArgumentParser], None]


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="training data: .csv, .csv.gz, .parquet or .jsonl")
    p.add_argument(
        "-o", "--output", default="reference.json", help="profile file to write (default: %(default)s)"
    )
    p.add_argument("--target", help="column holding the ground truth")
    p.add_argument(
        "--prediction",
        action="append",
        default=None,
        help="column holding a model output (repeat for several outputs)",
    )
    p.add_argument(
        "--categorical", action="append", default=None, help="force a column to be categorical (repeatable)"
    )
    p.add_argument(
        "--numeric", action="append", default=None, help="force a column to be numeric (repeatable)"
    )
    p.add_argument(
        "--text",
        action="append",
        default=None,
        metavar="COL",
        help="free-text column, profiled as descriptor features 'COL:length_words', 'COL:oov_share', "
        "'COL:script', ... (repeatable); long free-form strings are recognised without it",
    )
    p.add_argument(
        "--embedding",
        action="append",
        default=None,
        metavar="COL",
        help="column holding one vector per row: a JSON array per CSV/JSONL cell or a parquet list "
        "(repeatable)",
    )
    p.add_argument("--exclude", action="append", default=None, help="column to leave out (repeatable)")
    p.add_argument(
        "--bins", type=int, default=20, help="equal-frequency bins per numeric feature (default: %(default)s)"
    )
    p.add_argument(
        "--top-k", type=int, default=20, help="categories kept per categorical feature (default: %(default)s)"
    )
    p.add_argument(
        "--chunksize", type=int, default=100_000, help="rows read per chunk (default: %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw a progress bar on stderr")
    p.add_argument("--model", help="model name stored in the profile (default: none)")
    p.add_argument(
        "--sample-rows",
        type=int,
        default=200_000,
        help="rows sampled to fit bin edges on large files; counts stay exact (default: %(default)s)",
    )


def _add_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", help="reference profile (JSON) written by `mlscope profile`")
    p.add_argument("data", help="current data: .csv, .csv.gz, .parquet or .jsonl")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument(
        "--fail-on-drift",
        nargs="?",
        const="any",
        default=None,
        choices=("any", "share"),
        help="exit with status 3 on drift. 'any' (used when the flag is given alone): any feature or "
        "model output flagged as drifted; 'share': only when the share of drifted features reaches "
        "the dataset-drift threshold",
    )
    p.add_argument(
        "--chunksize", type=int, default=100_000, help="rows read per chunk (default: %(default)s)"
    )


def _add_serve(p: argparse.ArgumentParser) -> None:
    env = " (env %s)"
    p.add_argument("--config", help="YAML config file with one or more models" + env % "MLSCOPE_CONFIG")
    p.add_argument("--profile", help="reference profile for a single model" + env % "MLSCOPE_PROFILE")
    p.add_argument(
        "--model", help="model name for --profile (default: the profile's)" + env % "MLSCOPE_MODEL"
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)" + env % "MLSCOPE_HOST")
    p.add_argument("--port", type=int, help="port to bind (default 9108)" + env % "MLSCOPE_PORT")
    p.add_argument(
        "--tail",
        action="append",
        help="follow a JSON-lines prediction log (repeatable)" + env % "MLSCOPE_TAIL",
    )
    p.add_argument(
        "--pid", type=int, help="watch this serving process's CPU and memory" + env % "MLSCOPE_PID"
    )
    p.add_argument("--process-name", help="watch the process with this name" + env % "MLSCOPE_PROCESS_NAME")
    p.add_argument(
        "--otlp-endpoint",
        help="push metrics over OTLP to this endpoint" + env % "OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    p.add_argument(
        "--snapshot", help="file to keep window state in across restarts" + env % "MLSCOPE_SNAPSHOT"
    )
    p.add_argument(
        "--ingest-token-file",
        help="file holding the bearer token required for ingest" + env % "MLSCOPE_INGEST_TOKEN_FILE",
    )
    p.add_argument(
        "--web-config",
        help="exporter-toolkit style web config (TLS, basic auth)" + env % "MLSCOPE_WEB_CONFIG",
    )
    p.add_argument(
        "--log-format",
        choices=("json", "text"),
        help="log line format (default json)" + env % "MLSCOPE_LOG_FORMAT",
    )
    p.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="lowest level logged (default INFO)" + env % "MLSCOPE_LOG_LEVEL",
    )
    p.add_argument(
        "--prediction-log",
        help="write a sample of ingested events to this JSON-lines file" + env % "MLSCOPE_PREDICTION_LOG",
    )
    p.add_argument(
        "--prediction-log-sample",
        type=float,
        help="share of events written to --prediction-log (default 0.1)"
        + env % "MLSCOPE_PREDICTION_LOG_SAMPLE",
    )


def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", help="JSON-lines prediction log in the event schema")
    p.add_argument("--profile", required=True, help="reference profile to compare against")
    p.add_argument("--model", help="only replay events of this model")
    p.add_argument("--window", default="1h", help="window length, e.g. 5m, 1h (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=0, help="seconds to run, 0 = until Ctrl-C")
    p.add_argument("--scenario", default="cycle", help="traffic scenario (default: %(default)s)")
    p.add_argument(
        "--workdir", default=".demo", help="folder for logs and temporary data (default: %(default)s)"
    )
    p.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="add this to every port of the stack, 8000 9108 9090 9093 5001 (default: 0)",
    )
    p.add_argument(
        "--summary-interval",
        type=float,
        default=15.0,
        help="seconds between plain summary lines when the output is not a terminal (default: %(default)s)",
    )


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", required=True, help="folder to write into; a file there mlscope did not write is refused"
    )
    p.add_argument("--settings", help="YAML settings file over the defaults (docs/settings.md)")


# name -> (help, argument adder, "module:function")
_COMMANDS: dict[str, tuple[str, _Adder, str]] = {
    "profile": (
        "build a reference profile from training data",
        _add_profile,
        "mlscope.offline.profiling:profile_command",
    ),
    "compare": (
        "compare data with a reference profile and print the drift report",
        _add_compare,
        "mlscope.offline.compare:compare_command",
    ),
    "serve": ("run the sidecar exporter", _add_serve, "mlscope.sidecar.main:serve_command"),
    "replay": (
        "recompute drift over a past prediction log",
        _add_replay,
        "mlscope.offline.replay:replay_command",
    ),
    "demo": ("run the demo stack as local processes", _add_demo, "mlscope.demo.run:demo_command"),
    "config": (
        "write Prometheus rules and tests, Alertmanager routing, Grafana dashboards and their docs",
        _add_config,
        "mlscope.config_gen.__main__:config_command",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser (also used to generate the CLI docs)."""
    parser = argparse.ArgumentParser(
        prog="mlscope",
        description="mlscope makes silent ML failures loud: drift, data quality, model "
        "quality and service health as Prometheus metrics.",
    )
    parser.add_argument("--version", action="version", version=f"mlscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (helptext, adder, target) in _COMMANDS.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        adder(p)
        p.set_defaults(_target=target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlscope`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_target", None):
        parser.print_help(sys.stderr)
        return 2
    module, func = args._target.split(":")
    handler = getattr(importlib.import_module(module), func)
    return int(handler(args) or 0)
