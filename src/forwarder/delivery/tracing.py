"""Optional X-Ray tracing of the `_bulk` calls (TRACING=true, with Tracing: Active on the function).

Powertools Tracer and the X-Ray SDK are imported only when tracing is on: their
import is a large part of a cold start that an untraced function never pays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_tracer: Any = None


@contextlib.contextmanager
def bulk_span(enabled: bool, documents: int) -> Iterator[Any]:
    """A `## _bulk` subsegment annotated with the number of documents, or nothing."""
    if not enabled:
        yield None
        return
    with _get_tracer().provider.in_subsegment("## _bulk") as subsegment:
        subsegment.put_annotation(key="documents", value=documents)
        yield subsegment


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service="cwl-opensearch-forwarder")
    return _tracer
