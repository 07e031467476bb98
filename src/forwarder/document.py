"""A document as `_bulk` takes it: its index, its `_id`, and its two NDJSON lines."""

from __future__ import annotations

import functools
from typing import NamedTuple

import orjson

ID_END = b"}}\n"  # closes the action line after the `_id`


class Document(NamedTuple):
    index_name: str
    id: str
    lines: bytes  # the action line and the source line, each ending in \n: what a `_bulk` body holds

    @property
    def source(self) -> bytes:
        """The serialized JSON source, the second line (JSON text has no raw newline)."""
        return self.lines[self.lines.index(b"\n") + 1 : -1]


def make(index_name: str, doc_id: str, source: bytes, with_id: bool = True) -> Document:
    """The document whose source is `source`; `with_id=False` leaves `_id` out of the action line."""
    if not with_id:
        return Document(index_name, doc_id, b"%b%b\n" % (action_start(index_name, False), source))
    return Document(
        index_name, doc_id, b"".join((action_start(index_name), orjson.dumps(doc_id), ID_END, source, b"\n"))
    )


@functools.lru_cache(maxsize=256)
def action_start(index_name: str, with_id: bool = True) -> bytes:
    """The action line up to the `_id`'s JSON, which ID_END follows; without `_id`, the whole line.

    No `_type`: OpenSearch 2.x and Elasticsearch 8 reject it. `_id` is the
    CloudWatch event id, so a re-sent event overwrites itself, never duplicates;
    Serverless time-series collections refuse an `_id`, hence `with_id=False`.
    """
    if not with_id:
        return b'{"index":{"_index":%b}}\n' % orjson.dumps(index_name)
    return b'{"index":{"_index":%b,"_id":' % orjson.dumps(index_name)
