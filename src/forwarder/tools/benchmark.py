"""Time the hot path, decode -> transform -> `_bulk` NDJSON body, with no network.

`forwarder bench EVENT.json` prints the median milliseconds per payload. The same
work as `bench/reference.js` does on the Node reference, so the two can be compared.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from forwarder import pipeline
from forwarder.delivery import bulk
from forwarder.settings import DOCUMENTS_ONLY, Settings
from forwarder.sources import decode

NO_LIMIT = 1 << 40  # MAX_PAYLOAD_BYTES plays no part in the timing
# The defaults, whatever this shell's environment says: no filters, the reference's prefix.
SETTINGS = dataclasses.replace(Settings.from_env(DOCUMENTS_ONLY), max_payload_bytes=NO_LIMIT)


def hot_path(event: Any, settings: Settings = SETTINGS) -> bytes:
    """What the Lambda does before it sends: pipeline.prepare, then the one `_bulk` body."""
    documents = pipeline.prepare(decode.awslogs_data(event), settings).documents
    return bulk.ndjson(documents, settings.sends_ids)


def ms_per_payload(event: Any, iterations: int, settings: Settings = SETTINGS) -> float:
    """The median of `iterations` timed runs, after a warm-up of a fifth as many (at least 3)."""
    for _ in range(max(3, iterations // 5)):
        hot_path(event, settings)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        hot_path(event, settings)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
