"""The cyclic garbage collector, paused while a payload becomes documents.

Decoding and transforming a payload allocates tens of thousands of dicts,
lists and tuples in a burst. Each 2,000 of them start a collection that walks
every young object, and finds nothing: JSON trees and our documents hold no
reference cycles, so reference counting frees them all (docs/performance.md,
"Figures behind the code"). Collections resume afterwards as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside; restores the collector's state on the way out."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
