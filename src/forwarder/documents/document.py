"""A document: the index it goes to, its `_id` (the CloudWatch event id) and its JSON source.

How it is written into a `_bulk` body (the action line, whether `_id` is sent)
is bulk.py's business alone.

A payload's documents travel as `Documents`, three columns, so that the common
path (made, sent in one `_bulk` body, indexed) never builds an object per
document; a `Document` is made only for one that is looked at on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, overload


class Document(NamedTuple):
    index_name: str
    id: str
    source: bytes  # serialized JSON, one line (JSON text has no raw newline)


class Documents(Sequence[Document]):
    """Documents as columns: `sources[i]` is the source of the document in `index_names[i]` with `ids[i]`."""

    __slots__ = ("ids", "index_names", "sources")

    def __init__(self, index_names: list[str], ids: list[str], sources: list[bytes]) -> None:
        if not len(index_names) == len(ids) == len(sources):
            raise ValueError(f"columns of {len(index_names)}, {len(ids)} and {len(sources)} documents")
        self.index_names, self.ids, self.sources = index_names, ids, sources

    @classmethod
    def of(cls, documents: Iterable[Document]) -> Documents:
        index_names, ids, sources = [], [], []
        for document in documents:
            index_names.append(document.index_name)
            ids.append(document.id)
            sources.append(document.source)
        return cls(index_names, ids, sources)

    def __len__(self) -> int:
        return len(self.sources)

    @overload
    def __getitem__(self, position: int) -> Document: ...
    @overload
    def __getitem__(self, position: slice) -> Documents: ...
    def __getitem__(self, position: int | slice) -> Document | Documents:
        if isinstance(position, slice):
            return Documents(self.index_names[position], self.ids[position], self.sources[position])
        return Document(self.index_names[position], self.ids[position], self.sources[position])

    def at(self, positions: list[int]) -> Documents:
        """The documents at `positions`, in that order."""
        names, ids, sources = self.index_names, self.ids, self.sources
        return Documents(
            list(map(names.__getitem__, positions)),
            list(map(ids.__getitem__, positions)),
            list(map(sources.__getitem__, positions)),
        )

    def __iter__(self) -> Iterator[Document]:
        return map(Document._make, zip(self.index_names, self.ids, self.sources, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Documents):
            return (self.index_names, self.ids, self.sources) == (other.index_names, other.ids, other.sources)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Documents({len(self)} documents)"
