"""What a local command says to a person: reports as sentences, one line per retry round, problems in one line.

Three outputs: `human` (the default on a terminal), `json` (one JSON report per line;
the default when stdout is a pipe or a file, and `--json`) and `quiet` (nothing but
errors; the exit status says the rest). Whatever the output, stderr gets no Lambda
noise (JSON log lines, EMF metric lines) unless `--verbose` asks for it.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from forwarder.reports import BadInput, ControlMessage, Result
from forwarder.scrub import scrubbed
from forwarder.sources.kinesis import BatchResponse

if TYPE_CHECKING:  # a tool's report: the module itself loads only when that tool runs
    from forwarder.tools.backfill import BackfillReport, Job
    from forwarder.tools.replay import ReplayReport

HUMAN, JSON, QUIET = "human", "json", "quiet"
LAST_CHARS = 160  # of a retry's last error, in one line

_SAID_BY_THE_COMMAND = frozenset({"bad input", "bad input dead-lettered"})  # in its report or error line
_DETAILS = ("key", "reason", "dead_letter_problem")  # extra keys of a log record worth a person's reading


def output_mode(json: bool, quiet: bool, stdout: TextIO) -> str:
    if quiet:
        return QUIET
    if json or not stdout.isatty():
        return JSON
    return HUMAN


def write_report(mode: str, name: str, result: Result | BatchResponse, first: str = "") -> None:
    """One event file's result on stdout, in the chosen output."""
    if mode == JSON:
        print(orjson.dumps({"file": name, **result.as_dict()}).decode(), flush=True)
    elif mode == HUMAN:
        print(report_line(name, result, first), flush=True)


def report_line(name: str, result: Result | BatchResponse, first: str = "") -> str:
    if isinstance(result, ControlMessage):
        return f"{name}: control message (CloudWatch checking the destination): nothing to send"
    if isinstance(result, BatchResponse):
        failures = len(result.failures)
        return f"{name}: Kinesis batch: {failures} record(s) to retry" if failures else f"{name}: Kinesis batch: ok"
    if isinstance(result, BadInput):  # kept as it came
        return f"{name}: dead_lettered: bad input ({result.error_type}: {result.reason}), kept in {result.dead_letter}"
    requests = result.requests
    detail = f"{requests} request{'' if requests == 1 else 's'}"
    if result.retried:
        detail += f", {result.retried:,} documents re-sent"
    line = f"{name}: {result.status}: {result.events:,} events: {result.described() or 'nothing sent'} ({detail})"
    return f"{line}; first: {first}" if first else line


class PeopleLog(logging.Handler):
    """The forwarder's log records as lines for a person on stderr: retry rounds, dead letters, warnings."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self._stream = stream  # None: whatever sys.stderr is at the time
        self._last = ""  # the previous retry round's error, not repeated word for word

    def emit(self, record: logging.LogRecord) -> None:
        line = self.line(record)
        if line:
            stream = self._stream or sys.stderr
            stream.write(scrubbed(line) + "\n")
            stream.flush()

    def line(self, record: logging.LogRecord) -> str | None:
        message = record.getMessage()
        if message == "retrying":
            return self._retrying(record)
        if message == "bulk report":
            # The command prints the report itself; only where the dead-lettered went is news.
            keys = getattr(record, "dead_letter", None)
            if record.levelno != logging.WARNING or not keys:
                return None
            dead = getattr(record, "report", {}).get("dead_lettered", 0)
            first = getattr(record, "undelivered", [{}])[0]
            reason = str(first.get("reason", ""))[:LAST_CHARS]
            return (
                f"forwarder: {dead:,} documents dead-lettered in {keys[0]} (first: {first.get('error_type')}: {reason})"
            )
        if record.levelno < logging.WARNING or message in _SAID_BY_THE_COMMAND:
            return None
        details = [str(getattr(record, key)) for key in _DETAILS if getattr(record, key, None)]
        if record.exc_info and record.exc_info[1] is not None:
            details.append(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
        return ": ".join([f"forwarder: {record.levelname.lower()}: {message}", *details])

    def _retrying(self, record: Any) -> str:
        last = str(record.last)
        if record.round == 1 and record.error_type == "transport_error" and last.startswith("cannot connect"):
            self._last = f"{record.error_type}: {last}"
            return (
                f"forwarder: {last}. Retrying for up to {record.seconds_left:.0f} s ({record.bounded_by}); Ctrl-C stops"
            )
        what = f"{record.status} {record.error_type}" if record.status else record.error_type
        said = "the same error" if f"{what}: {last}" == self._last else f"{what}: {last[:LAST_CHARS]}"
        self._last = f"{what}: {last}"
        return (
            f"forwarder: retry {record.round}: {record.documents:,} documents in {record.in_seconds:.1f} s, "
            f"{record.seconds_left:.1f} s left; last: {said}"
        )


def replay_lines(source: str, report: ReplayReport) -> list[str]:
    """A replay's report: the counts, then each object or message that stays, with its first reason."""
    counts = ", ".join(
        f"{count:,} {label}"
        for count, label in (
            (report.indexed, "delivered"),
            (report.still_failing, "still failing"),
            (report.removed, "removed"),
            (report.unreadable, "unreadable"),
        )
        if count
    )
    lines = [f"{source}: {report.entries:,} entries read: {counts or 'nothing to do'}"]
    lines += [f"  kept: {kept['where']} ({kept['entries']} entries): {kept['reason']}" for kept in report.kept]
    if report.kept_not_listed:
        lines.append(f"  and {report.kept_not_listed:,} more kept")
    return lines


def backfill_line(job: Job, report: BackfillReport, checkpoint: str) -> str:
    groups = job.log_groups
    what = groups[0] if len(groups) == 1 else f"{len(groups)} log groups"
    start, end = (datetime.fromtimestamp(ms / 1000, UTC).isoformat() for ms in (job.start_ms, job.end_ms))
    return (
        f"backfill of {what}, {start} to {end}: {report.events:,} events read: "
        f"{report.described() or 'nothing sent'} ({report.pages} pages, {report.requests} requests); "
        f"checkpoint {checkpoint}"
    )
