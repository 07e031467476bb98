"""Running the Lambda's own code on this machine: its context, event files in, bytes out."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from forwarder.errors import ForwarderError

STDIN = Path("-")  # `forwarder encode ... | forwarder invoke -`


@dataclass
class LocalContext:
    """What the Lambda runtime passes as `context`, for running the handler in-process."""

    function_name: str = "forwarder-local"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:forwarder-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 60_000  # a local run gives up retrying after ~55 s, as a function with a 60 s timeout
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


def event_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ForwarderError(f"{path}: no *.json event files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ForwarderError(f"{path}: no such file or directory")
    return files


def read_event(path: Path) -> Any:
    try:
        return orjson.loads(sys.stdin.buffer.read() if path == STDIN else path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise ForwarderError(f"{path}: not a JSON event file ({err})") from None


def read_text(path: Path) -> str:
    try:
        return sys.stdin.read() if path == STDIN else path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise ForwarderError(f"{path}: {err.strerror}") from None


def write_stdout(data: bytes) -> bool:
    """Write and flush; False when the reader has closed the pipe (`| head`: it has seen enough)."""
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return False
    return True


def metrics_lines(verbose: bool) -> contextlib.AbstractContextManager[object]:
    """Where the EMF lines Powertools prints go: with the logs on stderr when asked, otherwise nowhere."""
    return contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO())
