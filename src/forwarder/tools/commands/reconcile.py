"""Find what CloudWatch Logs holds and OpenSearch lacks, and send only that.

Compares, per log group and hour of [--start, --end), CloudWatch's events (FilterLogEvents,
less what INCLUDE/EXCLUDE_PATTERN drop) with the group's documents under INDEX_PREFIX; where
they differ, sends the events whose id is not an _id there, with `create`, so nothing is
overwritten. --dry-run sends nothing and reports the windows that differ. Exits 0 when the
range is whole at the end, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from forwarder.tools import console
from forwarder.tools.commands.backfill import job_of
from forwarder.tools.commands.common import add_range, subcommand
from forwarder.tools.local import metrics_lines

EXAMPLES = """examples:
  forwarder reconcile /aws/lambda/checkout --start -26h --end -2h --dry-run
  forwarder reconcile /aws/containerinsights/prod/application --start 2026-11-01 --end 2026-11-08 --json
"""


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    reconcile = subcommand(commands, "reconcile", __doc__, EXAMPLES, reporting)
    add_range(reconcile, "-26h, -7d")
    reconcile.add_argument("--dry-run", action="store_true", help="send nothing: report the windows that differ")
    reconcile.add_argument(
        "--max-calls",
        type=_at_least_one,
        default=None,
        help="stop, before sending anything, after this many calls to CloudWatch Logs and OpenSearch "
        "(about 180 per million events; default 50,000)",
    )
    reconcile.set_defaults(run=run)


def _at_least_one(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    from forwarder.handler import runtime
    from forwarder.metrics import flush_metrics
    from forwarder.tools import backfill, reconcile

    job = job_of(args)
    forwarder = runtime()
    if mode != console.QUIET:
        print(f"forwarder: comparing CloudWatch Logs with {forwarder.settings.endpoint}", file=sys.stderr)
    with metrics_lines(verbose):
        logs = backfill.logs_client(forwarder.settings.region)
        bounds = reconcile.Bounds() if args.max_calls is None else reconcile.Bounds(max_calls=args.max_calls)
        report = reconcile.run(job, forwarder, logs, args.dry_run, bounds)
        flush_metrics()
    found = report.as_dict()
    if mode == console.JSON:
        print(orjson.dumps({"log_groups": list(job.log_groups), "dry_run": args.dry_run, **found}).decode())
    elif mode == console.HUMAN:
        groups = job.log_groups[0] if len(job.log_groups) == 1 else f"{len(job.log_groups)} log groups"
        print(
            f"reconcile of {groups}, {backfill.iso(job.start_ms)} to {backfill.iso(job.end_ms)}: "
            f"{report.events_checked:,} events in {report.windows} windows checked, {report.windows_differing} "
            f"differed, {report.events_missing:,} missing, {report.events_repaired:,} sent"
            + (" (dry run: nothing sent)" if args.dry_run else "")
        )
    if report.whole and not (args.dry_run and report.events_missing):
        return 0
    print(
        f"forwarder: {report.events_missing - report.events_repaired:,} events are still missing from OpenSearch"
        + (" (dry run)" if args.dry_run else ""),
        file=sys.stderr,
    )
    return 1
