"""Lambda entry point: wiring only. decode -> transform -> delivery -> dead letter -> report.

Module-level state is what must outlive one invocation: the validated settings,
the OpenSearch connection pool and the dead-letter store's client.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass
from typing import Any

from forwarder import collector, decode, delivery, jsjson, kinesis, transform
from forwarder import metrics as emf
from forwarder.deadletter import DeadLetterStore
from forwarder.document import Documents
from forwarder.errors import DeadLetterError, NotDeliveredError, PayloadError
from forwarder.log import logger
from forwarder.settings import Settings
from forwarder.sink import OpenSearchSink

MAX_ITEMS_LOGGED = 50  # one log line stays well under CloudWatch's 256 KiB per event
MAX_REASON_CHARS_LOGGED = 300
_PREFIX_CHARS = 64

_runtime: Runtime | None = None


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sink: OpenSearchSink
    dead_letter: DeadLetterStore | None  # None: DEAD_LETTER_BUCKET is not set


@dataclass(frozen=True)
class Report:
    """Where the events went: excluded + indexed + fallback + dead_lettered + failed == events."""

    log_group: str
    events: int  # in the payload
    excluded: int  # by INCLUDE_PATTERN / EXCLUDE_PATTERN
    indexed: int  # as made
    fallback: int  # in the safe form (fallback.py), after a content rejection
    dead_lettered: int  # written to the dead letter with their reason
    failed: int  # none of the above: the invocation fails and Lambda retries the event
    retried: int  # documents re-sent after a transient failure, whatever their end
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def runtime() -> Runtime:
    """Settings, the connection pool and the dead-letter store, made once per execution environment."""
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        _runtime = Runtime(settings, OpenSearchSink(settings), DeadLetterStore.from_settings(settings))
    return _runtime


def reset_runtime() -> None:
    """Forget settings and connections (tests and local tools that change the environment)."""
    global _runtime
    _runtime = None


@emf.metrics.log_metrics  # one EMF line per invocation, on failure too
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A CloudWatch Logs subscription event, or a batch of Kinesis records each holding one."""
    run = runtime()
    deadline = delivery.Deadline.for_invocation(context, run.settings)
    if kinesis.is_kinesis_batch(event):
        return kinesis.process_batch(
            event,
            context,
            lambda data: process({"awslogs": {"data": data}}, run, deadline),
            lambda entry: process(entry, run, deadline),
        )
    return process(event, run, deadline)


@dataclass(frozen=True)
class Prepared:
    payload: decode.Payload  # its log events are the ones kept by the filters
    documents: Documents
    excluded: int
    redacted: int


def prepare(event: Any, settings: Settings) -> Prepared:
    """Decode, apply INCLUDE/EXCLUDE and redaction, make the documents; raises PayloadError on bad input."""
    with collector.paused():
        payload = decode.decode_event(event, settings.max_payload_bytes)
        excluded = redacted = 0
        if settings.filters.active and not payload.is_control:
            kept, excluded, redacted = settings.filters.apply(payload.log_events)
            payload = dataclasses.replace(payload, log_events=kept)
        documents = transform.to_documents(payload, settings.index_prefix)
    return Prepared(payload, documents, excluded, redacted)


def process(event: dict[str, Any], run: Runtime, deadline: delivery.Deadline) -> dict[str, Any]:
    """One CloudWatch Logs event, end to end; raises only when something would otherwise be lost."""
    try:
        prepared = prepare(event, run.settings)
    except PayloadError as err:
        emf.count(run.settings.index_prefix, BadInput=1)
        time_left = deadline.remaining() + run.settings.retry_safety_margin  # the dead letter's margin
        return _dead_letter_bad_input(err, event, run.dead_letter, time_left)
    payload, documents = prepared.payload, prepared.documents
    if payload.is_control:
        emf.count(run.settings.index_prefix, ControlMessages=1)  # an invocation always has a metric
        logger.info("control message: nothing to send", extra={"log_group": payload.log_group})
        return {"status": "control_message"}
    logger.append_keys(log_group=payload.log_group, log_stream=payload.log_stream)
    outcome = delivery.deliver(documents, run.sink, run.settings, deadline)
    events = len(documents) + prepared.excluded
    # The dead letter is written in the margin the deadline keeps back from the function's timeout.
    time_left = deadline.remaining() + run.settings.retry_safety_margin
    report = _settle(outcome, events, prepared.excluded, prepared.redacted, payload, run, time_left)
    return {"status": "ok", **report.as_dict()}


def _settle(
    outcome: delivery.Outcome,
    events: int,
    excluded: int,
    redacted: int,
    payload: decode.Payload,
    run: Runtime,
    time_left: float | None = None,
) -> Report:
    """Dead-letter what could not be delivered, report it (log line and metrics), and fail if anything is left."""
    store = run.dead_letter
    dead, failed = outcome.dead, list(outcome.pending)
    keys: list[str] = []
    problem = ""
    if dead and store is None:
        problem = "DEAD_LETTER_BUCKET is not set"
    elif dead and store is not None:
        try:
            keys = [
                f"s3://{store.bucket}/{key}"
                for key in store.put_documents(dead, payload.log_group, payload.log_stream, time_left)
            ]
        except DeadLetterError as err:
            problem = str(err)
    if problem:
        failed, dead = failed + dead, []
    report = Report(
        payload.log_group,
        events,
        excluded,
        outcome.indexed,
        outcome.fallback,
        len(dead),
        len(failed),
        outcome.retried,
        outcome.requests,
    )
    emf.count(
        run.settings.index_prefix,
        DocumentsIn=report.events,
        Excluded=report.excluded,
        Redacted=redacted,
        Indexed=report.indexed,
        Fallback=report.fallback,
        DeadLettered=report.dead_lettered,
        Failed=report.failed,
        Retried=report.retried,
    )
    emf.record_requests(payload.size, outcome.latencies_ms)
    details: dict[str, Any] = {"report": report.as_dict()}
    if dead or failed:
        undelivered = (failed + dead)[:MAX_ITEMS_LOGGED]
        details["undelivered"] = [_loggable(item, run.settings.log_failed_documents) for item in undelivered]
        details["undelivered_not_logged"] = len(failed) + len(dead) - len(undelivered)
    if keys:
        details["dead_letter"] = keys
    if problem:
        details["dead_letter_problem"] = problem
    if failed:
        logger.error("bulk report", extra=details)
        first = failed[0]
        raise NotDeliveredError(
            f"{len(failed)} of {events} documents are neither indexed nor dead-lettered "
            f"(first: {first.error_type}: {first.reason[:300]}"
            + (f"; dead letter: {problem}" if problem else "")
            + "). Lambda retries the event; re-sent documents overwrite themselves by _id"
        )
    if dead:
        logger.warning("bulk report", extra=details)
    else:
        logger.info("bulk report", extra=details)
    return report


def _loggable(item: delivery.Undelivered, with_source: bool) -> dict[str, Any]:
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


def _dead_letter_bad_input(
    err: PayloadError, event: Any, store: DeadLetterStore | None, time_left: float
) -> dict[str, Any]:
    """An undecodable event goes to the dead letter as it came, within `time_left`; without one, the error is raised."""
    data = _raw_input(event)
    _log_bad_input(err, data)
    if store is None:
        raise err
    try:
        key = store.put_payload(data, err, time_left)
    except DeadLetterError as problem:
        logger.error("dead letter not written", extra={"dead_letter_problem": str(problem)})
        raise err from problem
    location = f"s3://{store.bucket}/{key}"
    logger.warning("bad input dead-lettered", extra={"dead_letter": location})
    return {"status": "dead_lettered", "error_type": type(err).__name__, "reason": str(err), "dead_letter": location}


def _raw_input(event: Any) -> str:
    """The event's awslogs.data, or, when it has none, the event itself as JSON."""
    try:
        return decode.awslogs_data(event)
    except PayloadError:
        pass
    try:
        return jsjson.dumps(event).decode()
    except (TypeError, ValueError):  # not a JSON value at all
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


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    runtime()  # in Lambda, a wrong setting fails the cold start, naming the variable
