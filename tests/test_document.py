"""Documents as columns, and the collector paused while they are made."""

from __future__ import annotations

import gc

import pytest

from forwarder.documents import collector
from forwarder.documents.document import Document, Documents


def three() -> list[Document]:
    return [Document(f"index-{n % 2}", f"id-{n}", b'{"n":%d}' % n) for n in range(3)]


def test_documents_hold_what_they_were_made_of() -> None:
    made = three()
    documents = Documents.of(made)
    assert len(documents) == 3
    assert list(documents) == made
    assert [documents[n] for n in range(3)] == made
    assert documents[-1] == made[-1]
    assert list(documents[1:]) == made[1:]
    assert documents.sources == [document.source for document in made]
    assert documents[2].source == b'{"n":2}'
    assert list(documents.at([2, 0])) == [made[2], made[0]] and len(documents.at([])) == 0


def test_documents_out_of_range_and_uneven_columns_are_errors() -> None:
    with pytest.raises(IndexError):
        Documents.of(three())[3]
    with pytest.raises(ValueError, match="columns of 2, 1 and 2 documents"):
        Documents(["a", "b"], ["1"], [b"x", b"y"])


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_inside_and_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with collector.paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector.paused():
            raise RuntimeError("a failing transform")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
