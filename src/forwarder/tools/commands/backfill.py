"""Forward a log group's history (FilterLogEvents) through the same pipeline, with the same _ids.

Read the log groups' events in [--start, --end) with FilterLogEvents and send them as the Lambda
does (filters, redaction, index pattern, safe form, dead letter), with each event's id as _id, so
what live forwarding already indexed is left as it is, never duplicated. A checkpoint after each
delivered page lets the same command, run again, go on where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from forwarder.errors import ForwarderError
from forwarder.tools import console
from forwarder.tools.commands.common import add_range, subcommand
from forwarder.tools.local import metrics_lines

if TYPE_CHECKING:
    from forwarder.pipeline import Runtime
    from forwarder.tools.backfill import BackfillReport, Checkpoint, Job

EXAMPLES = (
    "examples:\n  forwarder backfill /aws/lambda/checkout --start -7d\n"
    "  forwarder backfill /aws/containerinsights/prod/application --start 2026-11-01 --end 2026-11-08 "
    "--prefix payments --rate 2000 --checkpoint s3://my-bucket/backfill/prod.json"
)


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    backfill = subcommand(commands, "backfill", __doc__, EXAMPLES, reporting)
    add_range(backfill, "-7d, -12h")
    backfill.add_argument("--rate", type=float, default=None, help="at most this many events per second")
    backfill.add_argument(
        "--checkpoint", default=None, help="a local file or s3://BUCKET/KEY (default: ./backfill-<job digest>.json)"
    )
    backfill.set_defaults(run=run)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    from forwarder.handler import runtime
    from forwarder.tools import backfill

    job = job_of(args)
    run = runtime()
    if not run.settings.sends_ids and mode != console.QUIET:
        print(
            "forwarder: warning: OPENSEARCH_SERVICE=aoss sends no _id, so an event that live forwarding already "
            "indexed in this range is indexed twice (README, Backfill); Ctrl-C now to stop",
            file=sys.stderr,
        )
    where, checkpoint = _checkpoint(args, job, mode)
    job = _resumed(checkpoint)
    report = _send(job, checkpoint, run, args.rate, mode, verbose)
    if mode == console.JSON:
        summary = {
            "log_groups": list(job.log_groups),
            "start": backfill.iso(job.start_ms),
            "end": backfill.iso(job.end_ms),
            "checkpoint": where,
            **dataclasses.asdict(report),
        }
        print(orjson.dumps(summary).decode())
    elif mode == console.HUMAN:
        print(console.backfill_line(job, report, where))
    return 0


def job_of(args: argparse.Namespace) -> Job:
    """The log groups and range a command asks for, its times resolved; a bad range or name is one line."""
    from forwarder.tools import backfill

    current = backfill.now()
    start, end = backfill.parse_time(args.start, current), min(backfill.parse_time(args.end, current), current)
    if end < start:
        raise ForwarderError(f"--end {end.isoformat()} is before --start {start.isoformat()}: swap them")
    if end == start:
        raise ForwarderError(f"--start and --end are both {start.isoformat()}: the range is empty")
    if getattr(args, "rate", None) is not None and not args.rate > 0:
        raise ForwarderError(f"--rate {args.rate}: give a positive number of events per second")
    if any(not group.strip() for group in args.log_groups):
        raise ForwarderError("a LOG_GROUP is empty: give the log group's name, e.g. /aws/lambda/checkout")
    return backfill.Job(
        tuple(args.log_groups), backfill.epoch_ms(start), backfill.epoch_ms(end), args.prefix, args.filter_pattern
    )


def _checkpoint(args: argparse.Namespace, job: Job, mode: str) -> tuple[str, Checkpoint]:
    """This job's checkpoint, new or as an earlier run left it; a finished relative run goes on to now."""
    from forwarder.tools import backfill

    asked = {
        "log_groups": list(args.log_groups),
        "start": args.start,
        "end": args.end,
        "stream_prefix": args.prefix,
        "filter_pattern": args.filter_pattern,
    }
    where = args.checkpoint or backfill.default_checkpoint(asked)
    checkpoint = backfill.Checkpoint.load(where, job.as_dict(), asked)
    if checkpoint.finished and backfill.is_relative(args.end):  # run again, as from cron: up to the new now
        checkpoint.go_on_to(job.end_ms)
    if checkpoint.started and mode != console.QUIET:
        print(f"forwarder: going on from {where}", file=sys.stderr)
    return where, checkpoint


def _resumed(checkpoint: Checkpoint) -> Job:
    from forwarder.tools import backfill

    return backfill.Job.from_dict(checkpoint.job)  # on a resume, the range the first run resolved


def _send(
    job: Job, checkpoint: Checkpoint, run: Runtime, rate: float | None, mode: str, verbose: bool
) -> BackfillReport:
    """Connect (one line when AWS cannot be reached), then send page by page behind a progress bar."""
    from tqdm import tqdm

    from forwarder.metrics import flush_metrics
    from forwarder.tools import backfill

    first = backfill.logs_client(run.settings.region, attempts=1)
    if mode != console.QUIET:
        print(f"forwarder: connecting to CloudWatch Logs at {first.meta.endpoint_url}", file=sys.stderr)
    described = backfill.describe(job, first)  # unreachable, a wrong name or a missing permission, before the bar
    owners = {group: owner for group, (owner, _) in described.items()}
    created = {group: creation for group, (_, creation) in described.items()}
    checkpoint.save()  # an unwritable checkpoint is one line now, not after the first page is sent
    logs = backfill.logs_client(run.settings.region)
    bar = tqdm(desc="backfill", unit="ev", disable=mode == console.QUIET, initial=checkpoint.report.events)

    def progress(events: int, at_ms: int) -> None:
        bar.update(events)
        bar.set_postfix_str(f"through {datetime.fromtimestamp(min(at_ms, job.end_ms) / 1000, UTC):%Y-%m-%dT%H:%MZ}")

    try:
        with metrics_lines(verbose):
            report = backfill.run(job, checkpoint, run, logs, rate, progress, owners=owners, created=created)
            flush_metrics()
    finally:
        bar.close()
    return report
