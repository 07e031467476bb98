"""Lambda entry point: wiring only. decode -> transform -> bulk -> sink -> report.

Module-level state is what must outlive one invocation: the validated settings
and the OpenSearch connection pool.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from forwarder import bulk, decode, transform
from forwarder.errors import DeliveryError, PayloadError
from forwarder.log import logger
from forwarder.settings import Settings
from forwarder.sink import OpenSearchSink

MAX_FAILED_ITEMS_LOGGED = 50  # one log line stays well under CloudWatch's 256 KiB per event
_PREFIX_CHARS = 64

_runtime: tuple[Settings, OpenSearchSink] | None = None


@dataclass(frozen=True)
class Report:
    log_group: str
    events: int
    attempted: int
    indexed: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PartialFailureError(DeliveryError):
    """OpenSearch refused some documents; the invocation fails so Lambda keeps the event."""


def runtime() -> tuple[Settings, OpenSearchSink]:
    """Settings and the connection pool, made once per execution environment."""
    global _runtime
    if _runtime is None:
        settings = Settings.from_env()
        _runtime = (settings, OpenSearchSink(settings))
    return _runtime


def reset_runtime() -> None:
    """Forget settings and connections (tests and local tools that change the environment)."""
    global _runtime
    _runtime = None


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings, sink = runtime()
    try:
        payload = decode.decode_event(event, settings.max_payload_bytes)
        documents = transform.to_documents(payload, settings.index_prefix)
    except PayloadError as err:
        _log_bad_input(err, event)
        raise
    if payload.is_control:
        logger.info("control message: nothing to send", extra={"log_group": payload.log_group})
        return {"status": "control_message"}
    logger.append_keys(log_group=payload.log_group, log_stream=payload.log_stream)
    report = deliver(documents, payload.log_group, sink)
    return {"status": "ok", **report.as_dict()}


def deliver(documents: list[transform.Document], log_group: str, sink: OpenSearchSink) -> Report:
    """One `_bulk` request; the answer read item by item and reported as one log line."""
    if not documents:
        report = Report(log_group, 0, 0, 0, 0)
        logger.info("bulk report", extra={"report": report.as_dict()})
        return report
    answer = sink.bulk(bulk.ndjson(documents))
    if not 200 <= answer.status < 300:
        logger.error(
            "bulk request refused",
            extra={"status": answer.status, "body": answer.body[:1000].decode("utf-8", "replace")},
        )
        raise DeliveryError(
            f"_bulk answered HTTP {answer.status}: {answer.body[:300].decode('utf-8', 'replace')}",
            status=answer.status,
            body=answer.body,
        )
    result = bulk.parse_response(answer.body)
    report = Report(log_group, len(documents), result.attempted, result.successful, result.failed)
    if result.failed_items:
        logged = result.failed_items[:MAX_FAILED_ITEMS_LOGGED]
        logger.error(
            "bulk report",
            extra={
                "report": report.as_dict(),
                "failed_items": [asdict(item) for item in logged],
                "failed_items_not_logged": result.failed - len(logged),
            },
        )
        raise PartialFailureError(
            f"{result.failed} of {result.attempted} documents were refused by OpenSearch "
            f"(first: {result.failed_items[0].error_type}: {result.failed_items[0].reason[:200]})"
        )
    logger.info("bulk report", extra={"report": report.as_dict()})
    return report


def _log_bad_input(err: PayloadError, event: Any) -> None:
    try:
        sample = decode.awslogs_data(event)
    except PayloadError:
        sample = repr(event)
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
