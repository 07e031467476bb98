"""`forwarder`: run the Lambda's own code locally.

forwarder invoke events/eks-fluentd.json            # send, print the report
forwarder invoke events/ --dry-run                  # print the _bulk NDJSON, send nothing
forwarder replay s3://my-dead-letter/dead-letter/   # re-send what was dead-lettered
forwarder backfill /aws/lambda/x --start -7d        # a log group's history, with live forwarding's _ids
forwarder encode app.log --log-group /aws/lambda/x  # log lines -> a subscription event
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from forwarder.errors import ForwarderError, NotDeliveredError
from forwarder.tools import console

EXAMPLES = """examples:
  forwarder invoke events/eks-fluentd.json
  forwarder invoke events/ --dry-run > body.ndjson
  forwarder replay s3://my-dead-letter-bucket/dead-letter/2026/11/
  forwarder replay sqs://sqs.us-east-1.amazonaws.com/123456789012/forwarder-on-failure
  forwarder backfill /aws/lambda/checkout --start -7d
"""


@dataclass
class LocalContext:
    """What the Lambda runtime passes as `context`, for running the handler in-process."""

    function_name: str = "forwarder-local"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:forwarder-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 60_000  # a local run gives up retrying after ~55 s, as a function with a 60 s timeout
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="forwarder",
        description="Run the CloudWatch Logs -> OpenSearch forwarder locally.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    reporting = argparse.ArgumentParser(add_help=False)  # how invoke, replay and backfill speak
    said = reporting.add_mutually_exclusive_group()
    said.add_argument("--json", action="store_true", help="one JSON report per line (the default into a pipe)")
    said.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors; the exit status says")
    reporting.add_argument(
        "--verbose", "-v", action="store_true", help="show the Lambda's JSON log lines and EMF metrics on stderr"
    )
    invoke = commands.add_parser(
        "invoke",
        parents=[reporting],
        help="run the Lambda handler on event files",
        description="Run the real handler on each event (a file, or every *.json of a directory). "
        "Sends to OPENSEARCH_ENDPOINT unless --dry-run. Prints one report per event: a sentence on a "
        "terminal, JSON into a pipe or with --json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("events", nargs="+", type=Path, help="event JSON file or directory; - for stdin")
    invoke.add_argument("--dry-run", action="store_true", help="print the exact _bulk NDJSON body; send nothing")
    replay = commands.add_parser(
        "replay",
        parents=[reporting],
        help="re-send dead-lettered documents (S3) or failed events (SQS)",
        description="Re-send what the forwarder could not deliver, with the settings of this environment "
        "(OPENSEARCH_ENDPOINT, ...). From S3 an entry is removed once indexed; from SQS a message is "
        "deleted once nothing in it is left undelivered (DEAD_LETTER_BUCKET, if set, takes what OpenSearch "
        "refuses). Prints a report; exits 1 while something still fails.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("source", help="s3://BUCKET/PREFIX or sqs://QUEUE-URL-WITHOUT-https")
    backfill = commands.add_parser(
        "backfill",
        parents=[reporting],
        help="forward a log group's history (FilterLogEvents) through the same pipeline, with the same _ids",
        description="Read the log groups' events in [--start, --end) with FilterLogEvents and send them as the "
        "Lambda does (filters, redaction, index pattern, safe form, dead letter), with each event's id as _id, so "
        "what live forwarding already indexed is overwritten, not duplicated. A checkpoint after each delivered page "
        "lets the same command, run again, go on where it stopped.",
        epilog="examples:\n  forwarder backfill /aws/lambda/checkout --start -7d\n"
        "  forwarder backfill /aws/containerinsights/prod/application --start 2026-11-01 --end 2026-11-08 "
        "--prefix payments --rate 2000 --checkpoint s3://my-bucket/backfill/prod.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backfill.add_argument("log_groups", nargs="+", metavar="LOG_GROUP", help="a log group name")
    backfill.add_argument("--start", required=True, help="ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z) or -7d, -12h")
    backfill.add_argument("--end", default="now", help="the same forms (default: now); events before it")
    backfill.add_argument("--prefix", default="", help="only log streams whose name starts with this")
    backfill.add_argument("--filter-pattern", default="", help="a CloudWatch Logs filter pattern")
    backfill.add_argument("--rate", type=float, default=None, help="at most this many events per second")
    backfill.add_argument(
        "--checkpoint", default=None, help="a local file or s3://BUCKET/KEY (default: ./backfill-<job digest>.json)"
    )
    bench = commands.add_parser(
        "bench",
        help="time decode + transform + _bulk body on event files (no network)",
        description="Time the hot path (base64 -> gunzip -> JSON -> documents -> NDJSON body) on each event "
        'file; prints {"file", "events", "ms_per_payload"} per file (the median of the runs). '
        "`make bench` compares it with the Node reference.",
        epilog="example:\n  forwarder bench events/eks-fluentd.json --iterations 500",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("events", nargs="+", type=Path, help="event JSON file or directory")
    encode = commands.add_parser(
        "encode",
        help="make a CloudWatch Logs subscription event from log lines",
        description="Read log lines (a file, or - for stdin) and print the Lambda event CloudWatch Logs "
        'would send for them: {"awslogs": {"data": base64(gzip(payload))}}. For `forwarder invoke`, '
        "`sam local invoke -e` and events/.",
        epilog="example:\n  kubectl logs deploy/api | forwarder encode - --log-group "
        "/aws/containerinsights/prod/application/payments/payments-api > events/api.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    encode.add_argument("lines", type=Path, help="a file of log lines, one event per line; - for stdin")
    encode.add_argument("--log-group", required=True, help="e.g. /aws/lambda/checkout")
    encode.add_argument("--log-stream", default="local", help="default: local")
    encode.add_argument("--owner", default="123456789012", help="the account id (default 123456789012)")
    encode.add_argument(
        "--start-ms",
        type=int,
        default=None,
        help="timestamp of the first line in epoch milliseconds (default: now); each next line is 1 ms later",
    )
    bench.add_argument("--iterations", type=int, default=100, help="timed runs per file (default 100)")
    bench.add_argument(
        "--index-pattern", default="", help="an INDEX_PATTERN to time instead of the default one (see README)"
    )
    args = parser.parse_args(_relative_times_joined(sys.argv[1:] if argv is None else argv))

    verbose = getattr(args, "verbose", False)
    mode = console.output_mode(getattr(args, "json", False), getattr(args, "quiet", False), sys.stdout)
    try:
        from forwarder.log import logs_to_stderr  # a wrong log level is a ConfigError here

        people = None if verbose else console.PeopleLog() if mode != console.QUIET else logging.NullHandler()
        if not verbose:  # Powertools' warning about an invocation without metrics is Lambda's business
            warnings.filterwarnings("ignore", message="No application metrics to publish")
        with logs_to_stderr(people):
            if args.command == "replay":
                return _replay(args.source, mode, verbose)
            if args.command == "backfill":
                return _backfill(args, mode, verbose)
            if args.command == "encode":
                return _encode(args.lines, args.log_group, args.log_stream, args.owner, args.start_ms)
            if args.command == "bench":
                return _bench(_event_files(args.events), args.iterations, args.index_pattern)
            files = _event_files(args.events)
            return _dry_run(files) if args.dry_run else _invoke(files, mode, verbose)
    except ForwarderError as err:
        print(f"forwarder: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was indexed stays, the event files are untouched; no traceback
        print("forwarder: interrupted", file=sys.stderr)
        return INTERRUPTED


def _relative_times_joined(argv: Sequence[str]) -> list[str]:
    """`--start -7d` as `--start=-7d`: argparse takes a value that starts with `-` for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in ("--start", "--end") and re.match(r"-\d", arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
STDIN = Path("-")  # `forwarder encode ... | forwarder invoke -`


def _event_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ForwarderError(f"{path}: no *.json event files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ForwarderError(f"{path}: no such file or directory")
    return files


def _read_event(path: Path) -> Any:
    try:
        return orjson.loads(sys.stdin.buffer.read() if path == STDIN else path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise ForwarderError(f"{path}: not a JSON event file ({err})") from None


def _dry_run(files: list[Path]) -> int:
    from forwarder.delivery import bulk
    from forwarder.pipeline import prepare
    from forwarder.settings import DOCUMENTS_ONLY, Settings
    from forwarder.sources import decode

    # Only what shapes the documents is needed; no endpoint, no credentials.
    settings = Settings.from_env({**DOCUMENTS_ONLY, **os.environ})
    for path in files:
        documents = prepare(decode.awslogs_data(_read_event(path)), settings).documents  # filtered as sent
        if documents and not _write_stdout(bulk.ndjson(documents, settings.sends_ids)):
            return 0
    return 0


def _write_stdout(data: bytes) -> bool:
    """Write and flush; False when the reader has closed the pipe (`| head`: it has seen enough)."""
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return False
    return True


def _invoke(files: list[Path], mode: str, verbose: bool) -> int:
    from forwarder.handler import handle, runtime

    runtime()  # a wrong setting is one error before any file, not one per file
    status = 0
    for path in files:
        event = _read_event(path)
        try:
            with _metrics_lines(verbose):
                result = handle(event, LocalContext())
        except NotDeliveredError as err:
            if err.report and mode != console.QUIET:  # status "failed", with its counts
                console.write_report(mode, str(path), err.report, err.first)
            if mode != console.HUMAN or not err.report:  # the human report has said it
                print(f"forwarder: {path}: {type(err).__name__}: {err.summary or err}", file=sys.stderr)
            status = 1
            continue
        except ForwarderError as err:
            print(f"forwarder: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            status = 1
            continue
        console.write_report(mode, str(path), result)
    return status


def _metrics_lines(verbose: bool) -> contextlib.AbstractContextManager[object]:
    """Where the EMF lines Powertools prints go: with the logs on stderr when asked, otherwise nowhere."""
    return contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO())


MAX_EVENT_BYTES = 256 * 1024  # CloudWatch Logs' limit for one event
MAX_BATCH_EVENTS = 10_000  # and for one subscription batch
MAX_BATCH_BYTES = 1024 * 1024
EVENT_OVERHEAD = 26  # bytes CloudWatch adds to each event's size


def _encode(source: Path, log_group: str, log_stream: str, owner: str, start_ms: int | None) -> int:
    import base64
    import gzip

    if not log_group.strip():
        raise ForwarderError("--log-group is empty: give the log group's name, e.g. /aws/lambda/checkout")
    text = sys.stdin.read() if source == STDIN else _read_text(source)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ForwarderError(f"{source}: no log lines to encode")
    sizes = [len(line.encode()) for line in lines]
    for number, size in enumerate(sizes, 1):
        if size > MAX_EVENT_BYTES:
            raise ForwarderError(f"{source}: line {number} is over CloudWatch's 256 KiB per event")
    start = int(time.time() * 1000) if start_ms is None else start_ms
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["forwarder-encode"],
        "logEvents": [
            # CloudWatch's ids are 56 digits; these are unique per timestamp and line.
            {"id": f"{start + n:020d}{n:036d}", "timestamp": start + n, "message": line}
            for n, line in enumerate(lines)
        ],
    }
    data = base64.b64encode(gzip.compress(orjson.dumps(payload), mtime=0)).decode()
    batch_bytes = sum(sizes) + EVENT_OVERHEAD * len(lines)  # as CloudWatch counts them
    if len(lines) > MAX_BATCH_EVENTS or batch_bytes > MAX_BATCH_BYTES:
        print(
            f"forwarder: note: {len(lines):,} events, {batch_bytes:,} bytes; CloudWatch sends at most "
            f"{MAX_BATCH_EVENTS:,} events or 1 MiB per batch, so a subscription never delivers one this big",
            file=sys.stderr,
        )
    _write_stdout(orjson.dumps({"awslogs": {"data": data}}) + b"\n")
    return 0


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ForwarderError(f"{path}: {err.strerror}") from None


def _bench(files: list[Path], iterations: int, index_pattern: str) -> int:
    from forwarder.documents.naming import IndexPattern
    from forwarder.sources import decode
    from forwarder.tools import benchmark

    if iterations < 1:
        raise ForwarderError(f"--iterations {iterations}: give a positive number of runs")
    settings = dataclasses.replace(benchmark.SETTINGS, index_pattern=IndexPattern.parse(index_pattern))
    for path in files:
        event = _read_event(path)
        events = len(decode.decode_event(event, benchmark.NO_LIMIT).log_events)
        ms = benchmark.ms_per_payload(event, iterations, settings)
        print(orjson.dumps({"file": str(path), "events": events, "ms_per_payload": round(ms, 4)}).decode())
    return 0


def _backfill(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    from tqdm import tqdm

    from forwarder.handler import runtime
    from forwarder.metrics import flush_metrics
    from forwarder.tools import backfill

    current = backfill.now()
    start, end = backfill.parse_time(args.start, current), min(backfill.parse_time(args.end, current), current)
    if end < start:
        raise ForwarderError(f"--end {end.isoformat()} is before --start {start.isoformat()}: swap them")
    if end == start:
        raise ForwarderError(f"--start and --end are both {start.isoformat()}: the range is empty")
    if args.rate is not None and not args.rate > 0:
        raise ForwarderError(f"--rate {args.rate}: give a positive number of events per second")
    if any(not group.strip() for group in args.log_groups):
        raise ForwarderError("a LOG_GROUP is empty: give the log group's name, e.g. /aws/lambda/checkout")
    job = backfill.Job(
        tuple(args.log_groups), backfill.epoch_ms(start), backfill.epoch_ms(end), args.prefix, args.filter_pattern
    )
    run = runtime()
    if not run.settings.sends_ids and mode != console.QUIET:
        print(
            "forwarder: warning: OPENSEARCH_SERVICE=aoss sends no _id, so an event that live forwarding already "
            "indexed in this range is indexed twice (README, Backfill); Ctrl-C now to stop",
            file=sys.stderr,
        )
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
        checkpoint.go_on_to(backfill.epoch_ms(end))
    job = backfill.Job.from_dict(checkpoint.job)  # on a resume, the range the first run resolved
    if checkpoint.started and mode != console.QUIET:
        print(f"forwarder: going on from {where}", file=sys.stderr)
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
        with _metrics_lines(verbose):
            report = backfill.run(job, checkpoint, run, logs, args.rate, progress, owners=owners, created=created)
            flush_metrics()
    finally:
        bar.close()
    if mode == console.JSON:
        summary = {
            "log_groups": list(job.log_groups),
            "start": datetime.fromtimestamp(job.start_ms / 1000, UTC).isoformat(),
            "end": datetime.fromtimestamp(job.end_ms / 1000, UTC).isoformat(),
            "checkpoint": where,
            **dataclasses.asdict(report),
        }
        print(orjson.dumps(summary).decode())
    elif mode == console.HUMAN:
        print(console.backfill_line(job, report, where))
    return 0


def _replay(source: str, mode: str, verbose: bool) -> int:
    from tqdm import tqdm

    from forwarder.delivery.deadletter import DeadLetterStore
    from forwarder.handler import runtime
    from forwarder.metrics import flush_metrics
    from forwarder.tools import replay

    kind, where, prefix = replay.parse_target(source)
    run = runtime()
    quiet = mode == console.QUIET
    with _metrics_lines(verbose):
        if kind == "s3":
            store = DeadLetterStore(where, prefix, run.settings.region)
            bar = (lambda keys: keys) if quiet else (lambda keys: tqdm(keys, desc="objects", unit="obj"))
            report = replay.replay_s3(store, run, progress=bar)
        else:
            bar = (lambda found: found) if quiet else (lambda found: tqdm(found, desc="messages", unit="msg"))
            report = replay.replay_sqs(where, run, progress=bar)
        flush_metrics()
    if mode == console.JSON:
        print(orjson.dumps({"source": source, **report.as_dict()}).decode())
    elif mode == console.HUMAN:
        print("\n".join(console.replay_lines(source, report)))
    failing = report.still_failing or report.unreadable
    if failing and mode == console.QUIET:
        print(
            f"forwarder: {source}: {report.still_failing} still failing, {report.unreadable} unreadable",
            file=sys.stderr,
        )
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
