"""Render ``docs/cli.md`` from the real argument parser (a test keeps it in step).

Run ``python -m mlscope._clidoc > docs/cli.md``. Every subcommand and option the
``mlscope`` command accepts is documented here because it is read off the parser that
parses them; nothing can be added to the CLI without appearing in the docs.
"""

from __future__ import annotations

import argparse
import sys

from mlscope.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse offers no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _fixed_width(prog: str) -> argparse.HelpFormatter:
    # argparse wraps to the terminal's width; the committed page must not depend on it.
    return argparse.HelpFormatter(prog, width=100)


def render_markdown() -> str:
    """Return the Markdown page documenting every subcommand and option."""
    parser = build_parser()
    parser.formatter_class = _fixed_width
    lines = [
        "# Command line reference",
        "",
        "Generated from the `mlscope` argument parser by `python -m mlscope._clidoc`;"
        " do not edit by hand (a test fails when this page is stale).",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
        "",
    ]
    for name, sub in _subparsers(parser).items():
        sub.prog = f"mlscope {name}"
        sub.formatter_class = _fixed_width
        lines += [f"## `mlscope {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - exercised by the staleness test
    sys.stdout.write(render_markdown())
