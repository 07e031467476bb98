"""Time the hot path, decode -> transform -> `_bulk` NDJSON body, with no network.

`forwarder bench EVENT.json` prints the median milliseconds per payload. The same
work as `bench/reference.js` does on the Node reference, so the two can be compared.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from forwarder import bulk, collector, decode, transform

NO_LIMIT = 1 << 40  # MAX_PAYLOAD_BYTES plays no part in the timing


def hot_path(event: Any, index_prefix: str = "mydata") -> bytes:
    with collector.paused():  # as handler.prepare does
        payload = decode.decode_event(event, NO_LIMIT)
        return bulk.ndjson(transform.to_documents(payload, index_prefix))


def ms_per_payload(event: Any, iterations: int) -> float:
    """The median of `iterations` timed runs, after a warm-up of a fifth as many (at least 3)."""
    for _ in range(max(3, iterations // 5)):
        hot_path(event)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        hot_path(event)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
