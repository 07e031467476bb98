"""CloudWatch metrics as EMF lines (Powertools Metrics), one set per invocation.

Namespace CwlOpenSearchForwarder (POWERTOOLS_METRICS_NAMESPACE overrides it),
dimensions `service` and `IndexPrefix`. The counts are the report's, so they add
up the same way: Excluded + Indexed + Fallback + DeadLettered + Failed == DocumentsIn.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from forwarder.errors import ConfigError
from forwarder.log import SERVICE

NAMESPACE = "CwlOpenSearchForwarder"
MAX_LATENCIES = 99  # BulkLatency values per invocation (see record_requests)


def _namespace() -> str:
    """CloudWatch takes 1-255 characters, not starting with `AWS/` (reserved); Powertools checks none of it."""
    value = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    if not value.strip() or len(value) > 255 or value.startswith("AWS/"):
        raise ConfigError(
            f"POWERTOOLS_METRICS_NAMESPACE={value!r} is not accepted: give 1-255 characters, "
            f"not starting with AWS/ (unset, it is {NAMESPACE})"
        )
    return value


metrics = Metrics(namespace=_namespace(), service=SERVICE)


def count(index_prefix: str, **counts: int) -> None:
    """Counts (unit Count) for this invocation, under the IndexPrefix dimension."""
    metrics.add_dimension(name="IndexPrefix", value=index_prefix)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_requests(payload_bytes: int, bulk_latencies_ms: list[float]) -> None:
    """The payload's inflated size and each _bulk request's latency (the dimension set by `count`)."""
    metrics.add_metric(name="BulkRequests", unit=MetricUnit.Count, value=len(bulk_latencies_ms))
    metrics.add_metric(name="PayloadBytes", unit=MetricUnit.Bytes, value=payload_bytes)
    # EMF takes at most 100 values per metric, and Powertools flushes early on the 100th,
    # splitting the invocation's metrics over two lines and leaving its own flush empty.
    for latency in bulk_latencies_ms[:MAX_LATENCIES]:
        metrics.add_metric(name="BulkLatency", unit=MetricUnit.Milliseconds, value=round(latency, 1))


def flush_metrics() -> None:
    """Write what was recorded outside a Lambda invocation (replay), if anything."""
    if metrics.metric_set:
        metrics.flush_metrics()


def per_invocation[R](handler: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
    """One EMF line per invocation, on failure too: Powertools' log_metrics without its warning when
    an invocation fails before it counted anything (a wrong secret), and nothing left for the next."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> R:
        try:
            return handler(event, context)
        finally:
            flush_metrics()
            metrics.clear_metrics()

    return wrapped
