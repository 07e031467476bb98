"""CloudWatch metrics as EMF lines (Powertools Metrics), one set per invocation.

Namespace CwlOpenSearchForwarder (POWERTOOLS_METRICS_NAMESPACE overrides it),
dimensions `service` and `IndexPrefix`. The counts are the report's, so they add
up the same way: Excluded + Indexed + Fallback + DeadLettered + Failed == DocumentsIn.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from forwarder.log import SERVICE

NAMESPACE = "CwlOpenSearchForwarder"

metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE), service=SERVICE)


def record_delivery(
    index_prefix: str,
    events: int,
    excluded: int,
    redacted: int,
    indexed: int,
    fallback: int,
    dead_lettered: int,
    failed: int,
    retried: int,
    payload_bytes: int,
    bulk_latencies_ms: list[float],
) -> None:
    metrics.add_dimension(name="IndexPrefix", value=index_prefix)
    for name, value in (
        ("DocumentsIn", events),
        ("Excluded", excluded),
        ("Redacted", redacted),
        ("Indexed", indexed),
        ("Fallback", fallback),
        ("DeadLettered", dead_lettered),
        ("Failed", failed),
        ("Retried", retried),
        ("BulkRequests", len(bulk_latencies_ms)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="PayloadBytes", unit=MetricUnit.Bytes, value=payload_bytes)
    for latency in bulk_latencies_ms[:100]:  # EMF takes at most 100 values per metric
        metrics.add_metric(name="BulkLatency", unit=MetricUnit.Milliseconds, value=round(latency, 1))


def record_bad_input(index_prefix: str) -> None:
    metrics.add_dimension(name="IndexPrefix", value=index_prefix)
    metrics.add_metric(name="BadInput", unit=MetricUnit.Count, value=1)


def record_control_message(index_prefix: str) -> None:
    """CloudWatch's health checks: counted, so that an invocation never has nothing to publish."""
    metrics.add_dimension(name="IndexPrefix", value=index_prefix)
    metrics.add_metric(name="ControlMessages", unit=MetricUnit.Count, value=1)


def flush_metrics() -> None:
    """Write what was recorded outside a Lambda invocation (replay), if anything."""
    if metrics.metric_set:
        metrics.flush_metrics()
