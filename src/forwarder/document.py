"""A document as `_bulk` takes it: its index, its `_id`, and its two NDJSON lines.

A payload's documents travel as `Documents`, three columns, so that the common
path (made, sent in one `_bulk` body, indexed) never builds an object per
document; a `Document` is made only for one that is looked at on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, overload

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


class Documents(Sequence[Document]):
    """Documents as columns: `lines[i]` is the `_bulk` NDJSON of the document in `index_names[i]` with `ids[i]`."""

    __slots__ = ("ids", "index_names", "lines")

    def __init__(self, index_names: list[str], ids: list[str], lines: list[bytes]) -> None:
        if not len(index_names) == len(ids) == len(lines):
            raise ValueError(f"columns of {len(index_names)}, {len(ids)} and {len(lines)} documents")
        self.index_names, self.ids, self.lines = index_names, ids, lines

    @classmethod
    def of(cls, documents: Iterable[Document]) -> Documents:
        index_names, ids, lines = [], [], []
        for document in documents:
            index_names.append(document.index_name)
            ids.append(document.id)
            lines.append(document.lines)
        return cls(index_names, ids, lines)

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, position: int) -> Document: ...
    @overload
    def __getitem__(self, position: slice) -> Documents: ...
    def __getitem__(self, position: int | slice) -> Document | Documents:
        if isinstance(position, slice):
            return Documents(self.index_names[position], self.ids[position], self.lines[position])
        return Document(self.index_names[position], self.ids[position], self.lines[position])

    def __iter__(self) -> Iterator[Document]:
        return map(Document._make, zip(self.index_names, self.ids, self.lines, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Documents):
            return (self.index_names, self.ids, self.lines) == (other.index_names, other.ids, other.lines)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Documents({len(self)} documents)"


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
