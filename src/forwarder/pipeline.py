"""One payload, whatever brought it: prepare -> deliver -> settle.

prepare: decode, INCLUDE/EXCLUDE and redaction, documents (pure).
deliver: `_bulk` until each document is indexed, undeliverable or out of time.
settle:  dead-letter the undeliverable, report and count, and raise if anything is left.

The Lambda adapter (handler.py: subscription events, Kinesis records), replay and
the bench call these directly; none of them knows Lambda's event shapes.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from forwarder import jsjson
from forwarder import metrics as emf
from forwarder.budget import Deadline
from forwarder.delivery import bulk, send
from forwarder.delivery.sink import OpenSearchSink
from forwarder.documents import collector, overflow, transform
from forwarder.documents.document import Documents
from forwarder.errors import DeadLetterError, NotDeliveredError, PayloadError
from forwarder.log import logger
from forwarder.reports import BadInput, ControlMessage, Report, Result
from forwarder.settings import Settings
from forwarder.sources import decode

if TYPE_CHECKING:
    from forwarder.delivery.deadletter import DeadLetterStore

MAX_ITEMS_LOGGED = 50  # one log line stays well under CloudWatch's 256 KiB per event
MAX_REASON_CHARS_LOGGED = 300
_PREFIX_CHARS = 64


@dataclass(frozen=True)
class Runtime:
    """What outlives one payload: the validated settings, the connection pool, the dead-letter store."""

    settings: Settings
    sink: OpenSearchSink
    dead_letter: DeadLetterStore | None  # None: DEAD_LETTER_BUCKET is not set
    index_names: overflow.SeenNames = dataclasses.field(default_factory=overflow.SeenNames)  # today's, here

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(settings, OpenSearchSink(settings), _dead_letter_store(settings))


def _dead_letter_store(settings: Settings) -> DeadLetterStore | None:
    """The dead letter's store, loaded only where DEAD_LETTER_BUCKET is set (its S3 client on first use)."""
    if settings.dead_letter_bucket is None:
        return None
    from forwarder.delivery.deadletter import DeadLetterStore

    return DeadLetterStore.from_settings(settings)


@dataclass(frozen=True)
class Prepared:
    payload: decode.Payload  # its log events are the ones kept by the filters
    documents: Documents
    excluded: int
    redacted: int
    counts: transform.Counts = dataclasses.field(default_factory=transform.Counts)
    overflowed: int = 0  # documents sent to the overflow index (overflow.py)


def prepare(data: str | bytes, settings: Settings) -> Prepared:
    """Decode the base64 awslogs data, apply INCLUDE/EXCLUDE and redaction, make the documents.

    Raises PayloadError on bad input.
    """
    with collector.paused():
        return prepare_payload(decode.decode_data(data, settings.max_payload_bytes), settings)


def prepare_payload(payload: decode.Payload, settings: Settings) -> Prepared:
    """INCLUDE/EXCLUDE and redaction, then the documents (pure); an event that makes none is in `counts.rejected`."""
    excluded = redacted = 0
    if settings.filters.active and not payload.is_control:
        kept, excluded, redacted = settings.filters.apply(payload.log_events)
        payload = dataclasses.replace(payload, log_events=kept)
    documents, counts = transform.make_documents(payload, settings.shape)
    return Prepared(payload, documents, excluded, redacted, counts)


def forward_event(event: Any, run: Runtime, deadline: Deadline) -> Result:
    """A CloudWatch Logs subscription event (`{"awslogs": {"data": ...}}`); anything else is bad input."""
    try:
        data = decode.awslogs_data(event)
    except PayloadError as err:
        return _bad_input(err, _as_json(event), run, deadline)
    return forward(data, run, deadline)


def forward(data: str | bytes, run: Runtime, deadline: Deadline) -> Result:
    """One payload, end to end; raises only when something would otherwise be lost."""
    try:
        prepared = prepare(data, run.settings)
    except PayloadError as err:
        return _bad_input(err, data if isinstance(data, str) else data.decode("latin-1"), run, deadline)
    return _deliver(prepared, run, deadline)


def forward_payload(payload: decode.Payload, run: Runtime, deadline: Deadline, op: str = bulk.INDEX) -> Result:
    """A payload made from an API's answer (backfill, with `op=bulk.CREATE`), not decoded from a subscription:
    the rest as `forward`."""
    with collector.paused():
        prepared = prepare_payload(payload, run.settings)
    return _deliver(prepared, run, deadline, op)


def _deliver(prepared: Prepared, run: Runtime, deadline: Deadline, op: str = bulk.INDEX) -> Result:
    payload = prepared.payload
    if payload.is_control:
        emf.count(run.settings.index_prefix, ControlMessages=1)  # an invocation always has a metric
        logger.info("control message: nothing to send", extra={"log_group": payload.log_group})
        return ControlMessage(payload.log_group)
    logger.append_keys(log_group=payload.log_group, log_stream=payload.log_stream)
    prepared = _bounded(prepared, run)
    outcome = send.deliver(prepared.documents, run.sink, run.settings, deadline, op)
    return settle(outcome, prepared, run, deadline.dead_letter_time())


def _bounded(prepared: Prepared, run: Runtime) -> Prepared:
    """The names beyond MAX_INDICES_PER_PAYLOAD (or this environment's daily bound) sent to the overflow index."""
    settings = run.settings
    pattern = settings.index_pattern
    documents, moved = overflow.bounded(
        prepared.documents,
        settings.index_prefix,
        pattern.date_format,
        settings.max_indices_per_payload,
        None if pattern.is_default else settings.max_indices_per_environment,
        run.index_names,
        time.strftime("%Y-%m-%d", time.gmtime()),
    )
    if moved:
        logger.warning("index names over the bound: sent to the overflow index", extra={"documents": moved})
    return dataclasses.replace(prepared, documents=documents, overflowed=moved) if moved else prepared


def settle(outcome: send.Outcome, prepared: Prepared, run: Runtime, time_left: float | None = None) -> Report:
    """Dead-letter what could not be delivered, report it (log line and metrics), and fail if anything is left."""
    payload = prepared.payload
    rejected = prepared.counts.rejected  # events that made no document: dead-lettered as they came
    events = len(prepared.documents) + prepared.excluded + len(rejected)
    dead, failed = outcome.dead, list(outcome.pending)
    keys, problem = _dead_letter(dead, rejected, payload, run.dead_letter, time_left)
    not_kept = len(rejected) if problem else 0  # rejected events that are not in the dead letter either
    if problem:
        failed, dead = failed + dead, []
    report = Report(
        events=events,
        excluded=prepared.excluded,
        indexed=outcome.indexed,
        fallback=outcome.fallback,
        dead_lettered=len(dead) + len(rejected) - not_kept,
        failed=len(failed) + not_kept,
        retried=outcome.retried,
        requests=outcome.requests,
        already_indexed=outcome.already_indexed,
        log_group=payload.log_group,
    )
    emf.count(
        run.settings.index_prefix,
        **report.metrics(),
        Redacted=prepared.redacted,
        **_shaping_counts(run.settings, prepared.counts),
        **(
            {"IndexOverflow": prepared.overflowed}
            if prepared.overflowed or not run.settings.index_pattern.is_default
            else {}
        ),
    )
    emf.record_requests(payload.size, outcome.latencies_ms)
    details: dict[str, Any] = {"report": report.as_dict()}
    unmade = [_loggable_rejected(item) for item in rejected]
    if dead or failed or unmade:
        undelivered = [_loggable(item, run.settings.log_failed_documents) for item in failed + dead]
        shown = [*undelivered, *unmade][:MAX_ITEMS_LOGGED]
        details["undelivered"] = shown
        details["undelivered_not_logged"] = len(undelivered) + len(unmade) - len(shown)
    if keys:
        details["dead_letter"] = keys
    if problem:
        details["dead_letter_problem"] = problem
    if report.failed:
        logger.error("bulk report", extra=details)
        raise _not_delivered(report, failed, rejected, problem)
    if report.dead_lettered:
        logger.warning("bulk report", extra=details)
    else:
        logger.info("bulk report", extra=details)
    return report


def _dead_letter(
    dead: list[send.Undelivered],
    rejected: list[transform.Rejected],
    payload: decode.Payload,
    store: DeadLetterStore | None,
    time_left: float | None,
) -> tuple[list[str], str]:
    """Where the undeliverable and the rejected went (s3:// URLs), or the problem that kept them out."""
    if not (dead or rejected):
        return [], ""
    if store is None:
        return [], "DEAD_LETTER_BUCKET is not set"
    until = None if time_left is None else time.monotonic() + time_left
    keys: list[str] = []
    try:
        if rejected:
            keys.append(store.put_events(rejected, payload, time_left))
        if dead:
            left = None if until is None else until - time.monotonic()
            keys += store.put_documents(dead, payload.log_group, payload.log_stream, left)
    except DeadLetterError as err:
        return [f"s3://{store.bucket}/{key}" for key in keys], str(err)
    return [f"s3://{store.bucket}/{key}" for key in keys], ""


def _not_delivered(
    report: Report, failed: list[send.Undelivered], rejected: list[transform.Rejected], problem: str
) -> NotDeliveredError:
    first = failed[0] if failed else None
    cause = (
        f"{first.error_type}: {first.reason[:300]}" if first else f"{transform.REJECTED}: {rejected[0].reason[:300]}"
    )
    summary = (
        f"{report.failed} of {report.events} documents are neither indexed nor dead-lettered "
        f"(first: {cause}" + (f"; dead letter: {problem}" if problem else "") + ")"
    )
    return NotDeliveredError(
        f"{summary}. Lambda retries the event; re-sent documents overwrite themselves by _id",
        report=report,
        first=cause,
        summary=summary,
    )


def _shaping_counts(settings: Settings, counts: transform.Counts) -> dict[str, int]:
    """The counts of the optional shaping rules that are in use, so a dashboard sees their zeros too."""
    found = {}
    if not settings.index_pattern.is_default:
        found["IndexNameDefaults"] = counts.index_name_defaults
    if settings.parse_json_fields:
        found["JsonFieldsNotParsed"] = counts.json_fields_not_parsed
    return found


def _loggable(item: send.Undelivered, with_source: bool) -> dict[str, Any]:
    """What a person needs to find the line; the line itself only with LOG_FAILED_DOCUMENTS."""
    found: dict[str, Any] = {
        "index": item.document.index_name,
        "id": item.document.id,
        "status": item.status,
        "error_type": item.error_type,
        "reason": item.reason[:MAX_REASON_CHARS_LOGGED],
        "attempts": item.attempts,
    }
    if with_source:
        found["source"] = item.document.source.decode("utf-8", "replace")
    return found


def _loggable_rejected(item: transform.Rejected) -> dict[str, Any]:
    event_id = item.event.get("id") if isinstance(item.event, dict) else None
    return {
        "id": event_id if isinstance(event_id, str) else None,
        "error_type": transform.REJECTED,
        "reason": item.reason,
    }


def _bad_input(err: PayloadError, data: str, run: Runtime, deadline: Deadline) -> BadInput:
    """Bad input goes to the dead letter as it came, in the margin kept back; without one, the error is raised."""
    emf.count(run.settings.index_prefix, BadInput=1)
    time_left = deadline.dead_letter_time()
    _log_bad_input(err, data)
    store = run.dead_letter
    if store is None:
        raise err
    try:
        key = store.put_payload(data, err, time_left)
    except DeadLetterError as problem:
        logger.error("dead letter not written", extra={"dead_letter_problem": str(problem)})
        raise err from problem
    location = f"s3://{store.bucket}/{key}"
    logger.warning("bad input dead-lettered", extra={"dead_letter": location})
    return BadInput(type(err).__name__, str(err), location)


def _as_json(event: Any) -> str:
    """An event without awslogs.data, kept as JSON (or, when it is no JSON value at all, its repr)."""
    try:
        return jsjson.dumps(event).decode()
    except (TypeError, ValueError):
        return repr(event)


def _log_bad_input(err: PayloadError, sample: str) -> None:
    logger.error(
        "bad input",
        extra={
            "error": type(err).__name__,
            "reason": str(err),
            "input_chars": len(sample),
            "input_prefix": sample[:_PREFIX_CHARS],
        },
    )
