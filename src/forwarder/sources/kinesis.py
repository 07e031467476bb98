"""The Kinesis Data Streams source: each record's data is one awslogs gzip payload.

When a subscription filter (or an account-level subscription filter policy)
targets a stream, the function consumes the stream's batches. Records go
through the same code as a direct CloudWatch Logs event. A record that fails
(something neither indexed nor dead-lettered) is reported in
`batchItemFailures` (Powertools BatchProcessor; the event source mapping needs
`ReportBatchItemFailures`), so Lambda retries from that record. The records
before it are not sent again, and a bad record that was dead-lettered never
blocks the shard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchResponse:
    """The partial batch response: each failed record's sequence number, from which Lambda retries."""

    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"batchItemFailures": self.failures}


def process_batch(
    event: dict[str, Any],
    context: Any,
    process_data: Callable[[str], Any],
    process_unreadable: Callable[[Any], Any],
) -> BatchResponse:
    """`process_data(base64 data)` for each record, in order; returns the partial batch response.

    An entry that is not an object has no sequence number to report as failed, so it cannot
    be retried alone: `process_unreadable(entry)` dead-letters it as bad input instead.
    """
    # Imported here: slow to import, and a direct CloudWatch Logs subscription never needs it.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    readable = []
    for record in event["Records"]:
        if isinstance(record, dict):
            readable.append(record)
        else:
            process_unreadable(record)
    if not readable:
        return BatchResponse()
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    response = process_partial_response(
        event={**event, "Records": readable},
        record_handler=lambda record: process_data(record.kinesis.data),
        processor=processor,
        context=context,
    )
    return BatchResponse([dict(item) for item in response["batchItemFailures"]])
