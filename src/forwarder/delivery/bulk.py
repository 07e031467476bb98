"""The `_bulk` wire format, both ways: documents -> NDJSON lines in bounded chunks, the answer -> per-item results.

The one place that writes an action line and decides whether it carries `_id`.
"""

from __future__ import annotations

import bisect
import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import orjson

from forwarder import jsjson
from forwarder.documents.document import Documents
from forwarder.scrub import scrubbed

# What parse_items reads of an answer, and no more (`filter_path=errors,items.*.status,items.*.error`):
# a real node writes 25 bytes for an item where the whole answer has ~190. A whole-request error (400,
# 413, ...) comes back unfiltered. Written percent-encoded as SigV4's canonical query is: botocore signs
# the query as it is given, and AWS checks it encoded, so a bare `,` or `*` would be a 403.
# Serverless's list of supported operations does not say it takes filter_path: it gets the plain path.
FILTERED_PATH = "/_bulk?filter_path=errors%2Citems.%2A.status%2Citems.%2A.error"
PLAIN_PATH = "/_bulk"
_ID_END = b"}}\n"  # closes the action line after the `_id`
MAX_REASON_CHARS = 500  # a mapping error's reason can quote a whole field value
_ERROR_KEY = b'"error"'  # in an answer whose "errors" is false only if an item fails all the same
_SUCCESS_STATUS = b'"status":2'  # once per item when every item succeeded (OpenSearch writes no spaces)
_NO_ERRORS = b'"errors":false'
_HEAD_BYTES = 100  # where OpenSearch writes "errors", after "took" (and "ingest_took")
# An item the answer does not account for: counted as not indexed and sent again (a re-send
# with the same _id overwrites; without one, the dead letter decides).
BAD_ANSWER = "bad_answer"
BAD_ANSWER_STATUS = 502
INDEX, CREATE = "index", "create"  # the action: overwrite by _id (live forwarding), or never overwrite (backfill)
ALREADY_THERE = (409, "version_conflict_engine_exception")  # a `create` item's answer for an _id that exists


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


def spans(sizes: Sequence[int], max_bytes: int, max_docs: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive runs of items of at most `max_docs` and `max_bytes` (an item bigger than that
    goes alone), given each item's size in bytes. Sums and searches run in C: a Python step per item showed
    in the profile (docs/performance.md, "Figures behind the code")."""
    start, count = 0, len(sizes)
    while start < count:
        stop = min(start + max_docs, count)
        if sum(sizes[start:stop]) > max_bytes:
            stop = start + max(bisect.bisect_right(list(accumulate(sizes[start:stop])), max_bytes), 1)
        yield start, stop
        start = stop


def lines(documents: Documents, with_id: bool, op: str = INDEX) -> list[bytes]:
    """Each document's action line and source line, each ending in \\n: what a `_bulk` body holds.

    `_id` is the CloudWatch event id, so a re-sent event overwrites itself, never
    duplicates; Serverless time-series collections refuse an `_id`, hence `with_id=False`.
    `op=CREATE` (backfill) never overwrites: a document already there is refused with a 409.
    """
    return list(map(b"".join, zip(*_line_parts(documents, with_id, op), strict=True)))


def line(index_name: str, doc_id: str, source: bytes, with_id: bool, op: str = INDEX) -> bytes:
    """One document's two lines, as `lines` writes them."""
    return lines(Documents([index_name], [doc_id], [source]), with_id, op)[0]


def ndjson(documents: Documents, with_id: bool = True, op: str = INDEX) -> bytes:
    """One `_bulk` body for all `documents`, `b"".join(lines(documents, with_id))` made in one join.

    No tuple and no bytes per document: delivery sends a payload that fits in one request as this.
    """
    columns = _line_parts(documents, with_id, op)
    parts: list[bytes] = [b""] * (len(columns) * len(documents))
    for number, column in enumerate(columns):
        parts[number :: len(columns)] = column
    return b"".join(parts)


def least_size(documents: Documents, with_id: bool, op: str = INDEX) -> int:
    """A lower bound of `len(ndjson(documents, with_id))`, found without joining it (exact for ASCII ids)."""
    if not documents:
        return 0
    shortest = min(len(_action_start(index, with_id, op)) for index in set(documents.index_names))
    if not with_id:
        return sum(map(len, documents.sources)) + (shortest + 1) * len(documents)
    id_quotes = 2  # a JSON string is at least its characters and its two quotes
    each = shortest + id_quotes + len(_ID_END) + 1
    return sum(map(len, documents.sources)) + sum(map(len, documents.ids)) + each * len(documents)


def _line_parts(documents: Documents, with_id: bool, op: str) -> list[list[bytes]]:
    """Columns whose items, joined across, are each document's two lines."""
    count, names = len(documents), documents.index_names
    if count and names.count(names[0]) == count:  # one index (one day), as nearly every payload
        actions = [_action_start(names[0], with_id, op)] * count
    else:
        starts = {index: _action_start(index, with_id, op) for index in set(names)}
        actions = list(map(starts.__getitem__, names))
    if not with_id:
        return [actions, documents.sources, [b"\n"] * count]
    try:
        ids = list(map(orjson.dumps, documents.ids))
    except TypeError:  # a lone surrogate, which orjson refuses to write
        ids = list(map(jsjson.dumps, documents.ids))
    return [actions, ids, [_ID_END] * count, documents.sources, [b"\n"] * count]


@functools.lru_cache(maxsize=256)
def _action_start(index_name: str, with_id: bool, op: str) -> bytes:
    """The action line up to the `_id`'s JSON, which _ID_END follows; without `_id`, the whole line.

    No `_type`: OpenSearch 2.x and Elasticsearch 8 reject it.
    """
    if not with_id:
        return b'{"%b":{"_index":%b}}\n' % (op.encode(), orjson.dumps(index_name))
    return b'{"%b":{"_index":%b,"_id":' % (op.encode(), orjson.dumps(index_name))


def parse_items(body: bytes, sent: int) -> list[ItemResult]:
    """Read a 2xx `_bulk` answer to `sent` documents: one result per item, in the order sent.

    Each item's own status decides, never the answer's "errors" flag. An item that is not
    an object, or has no numeric status, is a BAD_ANSWER: not indexed, and safe to send again.
    """
    if all_succeeded(body, sent):
        return [_SUCCEEDED] * sent
    answer = _loads(body)
    if not isinstance(answer, dict):
        return []
    items = answer.get("items")
    if not isinstance(items, list):
        return []
    return [_item_result(item) for item in items]


def all_succeeded(body: bytes, sent: int) -> bool:
    """Whether a 2xx `_bulk` answer says 2xx for each of the `sent` items, found without reading it.

    Parsing the whole answer costs about ten times as much; this second version stays because it
    saves CPU end to end (bench/second_versions.py; docs/performance.md, "Figures behind the code").
    """
    return _NO_ERRORS in body[:_HEAD_BYTES] and _ERROR_KEY not in body and body.count(_SUCCESS_STATUS) == sent


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses a lone surrogate (a refusal can quote one from the document); json takes it.
        return json.loads(body)


def _item_result(item: Any) -> ItemResult:
    result = next(iter(item.values()), None) if isinstance(item, dict) and len(item) == 1 else None
    if not isinstance(result, dict):  # {"index": {...}} or {"create": {...}} expected
        return ItemResult(BAD_ANSWER_STATUS, BAD_ANSWER, f"malformed _bulk item: {_clean(repr(item))[:200]}")
    status = result.get("status")
    if type(status) is int and status < 300:  # type(), not isinstance(): True is no status
        return ItemResult(status)
    error = result.get("error") or {}
    if not isinstance(error, dict):
        error = {"type": "error", "reason": str(error)}
    if type(status) is not int:
        reason = f"_bulk item without a numeric status ({status!r}): {_reason(error)}"
        return ItemResult(BAD_ANSWER_STATUS, BAD_ANSWER, _clean(reason)[:MAX_REASON_CHARS])
    return ItemResult(status, _clean(str(error.get("type", "unknown"))), _reason(error))


def _clean(text: str) -> str:
    """Lone surrogates written out as escapes: the reason goes into log lines and the dead letter."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _reason(error: dict[str, Any]) -> str:
    reason = str(error.get("reason", ""))
    cause = error.get("caused_by")
    if isinstance(cause, dict) and cause.get("reason"):
        reason = f"{reason}: {cause.get('type', '')}: {cause['reason']}"
    reason = scrubbed(_clean(reason))  # it goes to the dead letter too, which the log's scrubbing never sees
    return reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS] + "..."
