"""Documents -> `_bulk` NDJSON bodies in bounded chunks, and the `_bulk` answer -> per-item results."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from forwarder.document import Documents

MAX_REASON_CHARS = 500  # a mapping error's reason can quote a whole field value
_ERROR_KEY = b'"error"'  # in an answer whose "errors" is false only if an item fails all the same


@dataclass(frozen=True)
class ItemResult:
    """One item of a `_bulk` answer, in the position of the document that was sent."""

    status: int
    error_type: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status < 300


_SUCCEEDED = ItemResult(200)


def chunks[T](items: Sequence[T], size: Callable[[T], int], max_bytes: int, max_docs: int) -> Iterator[list[T]]:
    """Consecutive runs of `items` of at most `max_docs` and `max_bytes` (an item bigger than that goes alone)."""
    chunk: list[T] = []
    chunk_bytes = 0
    for item in items:
        item_bytes = size(item)
        if chunk and (len(chunk) >= max_docs or chunk_bytes + item_bytes > max_bytes):
            yield chunk
            chunk, chunk_bytes = [], 0
        chunk.append(item)
        chunk_bytes += item_bytes
    if chunk:
        yield chunk


def ndjson(documents: Documents) -> bytes:
    """One `_bulk` body for all `documents` (the dry run and the benchmark; delivery sends `chunks`)."""
    return b"".join(documents.lines)


def parse_items(body: bytes) -> list[ItemResult]:
    """Read a 2xx `_bulk` answer: one result per item, in the order the items were sent."""
    answer = orjson.loads(body)
    if not isinstance(answer, dict):
        return []
    items: list[dict[str, Any]] = answer.get("items", [])
    if answer.get("errors") is False and _ERROR_KEY not in body:
        # No item failed: walking 1,000 items would cost as much as reading the answer did.
        return [_SUCCEEDED] * len(items)
    results = []
    for item in items:
        result = next(iter(item.values()))  # {"index": {...}} or {"create": {...}}
        status = int(result.get("status", 0))
        if status < 300:
            results.append(ItemResult(status))
            continue
        error = result.get("error") or {}
        if not isinstance(error, dict):
            error = {"type": "error", "reason": str(error)}
        results.append(ItemResult(status, str(error.get("type", "unknown")), _reason(error)))
    return results


def _reason(error: dict[str, Any]) -> str:
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        reason = f"{reason}: {cause.get('type', '')}: {cause['reason']}"
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS] + "..."
