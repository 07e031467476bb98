"""What every subcommand's parser shares: its help laid out as written, and the output options where it reports."""

from __future__ import annotations

import argparse
from typing import Any


def subcommand(
    commands: Any, name: str, doc: str | None, epilog: str, reporting: argparse.ArgumentParser | None
) -> argparse.ArgumentParser:
    """A subcommand's parser, its help from its module's docstring (the first line, then the rest);
    `reporting` (--json, --quiet, --verbose) for those that print a report."""
    summary, _, description = (doc or "").partition("\n\n")
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=[reporting] if reporting else [],
        help=summary.rstrip("."),
        description=" ".join(description.split()),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_range(parser: argparse.ArgumentParser, start_forms: str) -> None:
    """The log groups, time range and stream and event filters a command reads CloudWatch Logs with."""
    parser.add_argument("log_groups", nargs="+", metavar="LOG_GROUP", help="a log group name")
    parser.add_argument("--start", required=True, help=f"ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z) or {start_forms}")
    parser.add_argument("--end", default="now", help="the same forms (default: now); events before it")
    parser.add_argument("--prefix", default="", help="only log streams whose name starts with this")
    parser.add_argument("--filter-pattern", default="", help="a CloudWatch Logs filter pattern (the subscription's)")
