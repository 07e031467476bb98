"""Documents -> `_bulk` NDJSON body, and the `_bulk` answer -> per-item results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from forwarder.transform import Document

MAX_REASON_CHARS = 500  # a mapping error's reason can quote a whole field value


@dataclass(frozen=True)
class FailedItem:
    index: str
    id: str
    status: int
    error_type: str
    reason: str


@dataclass(frozen=True)
class BulkResult:
    attempted: int
    successful: int
    failed_items: list[FailedItem] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failed_items)


def action_line(document: Document) -> bytes:
    # No `_type`: OpenSearch 2.x and Elasticsearch 8 reject it. `_id` is the
    # CloudWatch event id, so a re-sent event overwrites itself, never duplicates.
    return orjson.dumps({"index": {"_index": document.index_name, "_id": document.id}})


def ndjson(documents: Iterable[Document]) -> bytes:
    """The `_bulk` body: an action line and a source line per document, each ending in \\n."""
    lines = []
    for document in documents:
        lines.append(action_line(document))
        lines.append(document.source)
    lines.append(b"")
    return b"\n".join(lines)


def parse_response(body: bytes) -> BulkResult:
    """Read a 2xx `_bulk` answer item by item (status >= 300 is a failed item)."""
    answer = orjson.loads(body)
    items: list[dict[str, Any]] = answer.get("items", [])
    failed = []
    for item in items:
        result = next(iter(item.values()))  # {"index": {...}} or {"create": {...}}
        status = int(result.get("status", 0))
        if status >= 300:
            error = result.get("error") or {}
            if not isinstance(error, dict):
                error = {"type": "error", "reason": str(error)}
            failed.append(
                FailedItem(
                    index=str(result.get("_index", "")),
                    id=str(result.get("_id", "")),
                    status=status,
                    error_type=str(error.get("type", "unknown")),
                    reason=_reason(error),
                )
            )
    return BulkResult(attempted=len(items), successful=len(items) - len(failed), failed_items=failed)


def _reason(error: dict[str, Any]) -> str:
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        reason = f"{reason}: {cause.get('type', '')}: {cause['reason']}"
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS] + "..."
