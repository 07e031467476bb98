"""Waits bounded as a whole, for clients that bound each attempt or each read but not the total.

botocore's timeouts hold per connection and per read, and its retries multiply them: an
endpoint that takes the request and never answers can hold an invocation for minutes. The
call runs on a thread; past `seconds` the caller gets TimeoutError and the thread is left
behind (in Lambda it is frozen with the environment). A socket read is cut off by
shutting the socket down (CutOff).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

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


class CutOff:
    """Shuts a socket down at a set time unless released first.

    Socket timeouts bound each read alone: a peer sending a byte at a time within them
    holds the reader for as long as it likes. Shutting the socket down ends the read in
    progress, headers or body, at once. One watching thread, started on first use,
    serves every request of its owner.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._until = 0.0
        self._socket: socket.socket | None = None
        self._watcher: threading.Thread | None = None
        self.fired = False  # the last socket watched was cut off

    def arm(self, until: float) -> None:
        """The next socket watched must be done by `until` (time.monotonic())."""
        with self._changed:
            self._until, self._socket, self.fired = until, None, False

    def watch(self, sock: socket.socket) -> None:
        with self._changed:
            self._socket = sock
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._run, name="answer cut-off", daemon=True)
                self._watcher.start()
            self._changed.notify()

    def release(self) -> None:
        with self._changed:
            self._socket = None

    def _run(self) -> None:
        with self._changed:
            while True:
                left = self._until - time.monotonic()
                if self._socket is None or left > 0:
                    self._changed.wait(None if self._socket is None else left)
                    continue
                # Said before the shutdown: the reader wakes on it and asks at once why its read ended.
                self.fired = True
                # The plain socket's shutdown: SSLSocket's own would drop its TLS state under the reader.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._socket, socket.SHUT_RDWR)
                self._socket = None


class BoundedClient:
    """A botocore client whose every API call ends, retries included, within `seconds()` seconds."""

    def __init__(self, client: Any, seconds: Callable[[], float]) -> None:
        self._client = client
        self._seconds = seconds
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name not in self._client.meta.method_to_api_mapping:  # not an API call (a paginator, meta)
            return found

        def bounded(**params: Any) -> Any:
            return call_within(self._seconds(), functools.partial(found, **params), name)

        return bounded
