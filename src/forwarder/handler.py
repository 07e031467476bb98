"""The Lambda adapter: the event shapes Lambda hands over, each sent through the pipeline.

A CloudWatch Logs subscription event, or a Kinesis batch whose records each hold
one payload. Module-level state is what must outlive one invocation: the
validated settings, the OpenSearch connection pool and the dead-letter store's client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from forwarder import metrics as emf
from forwarder import pipeline
from forwarder.budget import Deadline
from forwarder.log import logger
from forwarder.reports import Result
from forwarder.settings import Settings

if TYPE_CHECKING:
    from forwarder.sources.kinesis import BatchResponse

_runtime: pipeline.Runtime | None = None


def runtime() -> pipeline.Runtime:
    """Settings, the connection pool and the dead-letter store, made once per execution environment."""
    global _runtime
    if _runtime is None:
        _runtime = pipeline.Runtime.from_settings(Settings.from_env())
    return _runtime


def reset_runtime() -> None:
    """Forget settings and connections (tests and local tools that change the environment)."""
    global _runtime
    _runtime = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: what `handle` made, as the JSON Lambda returns."""
    return handle(event, context).as_dict()


@emf.per_invocation
@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: Any) -> Result | BatchResponse:
    """A CloudWatch Logs subscription event, or a batch of Kinesis records each holding one payload."""
    run = runtime()
    deadline = Deadline.for_invocation(context, run.settings)
    if _is_kinesis_batch(event):
        from forwarder.sources import kinesis  # loaded only where a stream feeds the function

        return kinesis.process_batch(
            event,
            context,
            lambda data: pipeline.forward(data, run, deadline),
            lambda entry: pipeline.forward_event(entry, run, deadline),
        )
    return pipeline.forward_event(event, run, deadline)


def _is_kinesis_batch(event: Any) -> bool:
    """A Kinesis Data Streams batch: records from `aws:kinesis`."""
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and any(
        isinstance(record, dict) and record.get("eventSource") == "aws:kinesis" for record in records
    )


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    runtime()  # in Lambda, a wrong setting fails the cold start, naming the variable
