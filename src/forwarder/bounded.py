"""A blocking call bounded as a whole, for clients that bound each attempt but not the total.

botocore's timeouts hold per connection and per read, and its retries multiply them: an
endpoint that takes the request and never answers can hold an invocation for minutes. The
call runs on a thread; past `seconds` the caller gets TimeoutError and the thread is left
behind (in Lambda it is frozen with the environment).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MIN_SECONDS = 0.5  # a call near the deadline still gets a chance


def call_within[T](seconds: float, call: Callable[[], T], what: str) -> T:
    """`call()`'s result or exception, or TimeoutError naming `what` once `seconds` have passed."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)

    worker = threading.Thread(target=run, name=what, daemon=True)
    worker.start()
    worker.join(max(seconds, MIN_SECONDS))
    if worker.is_alive():
        raise TimeoutError(f"{what}: no answer within {seconds:.1f} s")
    if failure:
        raise failure[0]
    return result[0]
