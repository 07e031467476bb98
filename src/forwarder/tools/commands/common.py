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
