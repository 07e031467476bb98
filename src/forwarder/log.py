"""The one structured JSON logger (Powertools) every module writes to."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from aws_lambda_powertools import Logger

from forwarder.errors import ConfigError
from forwarder.scrub import scrubbed

# The `service` key of every log line and the metrics' dimension; POWERTOOLS_SERVICE_NAME
# names it, as in any Powertools function (the template sets it).
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "").strip() or "cwl-opensearch-forwarder"


class _CurrentStream:
    """Writes to whatever sys.stdout (or sys.stderr) is at the time of the write,
    so a local command can move logs to stderr and tests can capture them; every
    line passes through `scrubbed`, whatever error or answer it quotes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _target(self) -> TextIO:
        stream: TextIO = getattr(sys, self.name)
        return stream

    def write(self, text: str) -> int:
        return self._target().write(scrubbed(text))

    def flush(self) -> None:
        self._target().flush()


_stream = _CurrentStream("stdout")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_level_variables() -> None:
    """Powertools reads POWERTOOLS_LOG_LEVEL / LOG_LEVEL; a word it does not know would be a traceback."""
    for name in ("POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        value = os.environ.get(name)
        if value and value.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(f"{name}={value!r} is not a log level: use one of {', '.join(LEVELS)} (any case)")


_check_level_variables()
# Level from POWERTOOLS_LOG_LEVEL / LOG_LEVEL (Powertools reads them), INFO otherwise.
logger = Logger(service=SERVICE, stream=_stream)  # type: ignore[arg-type]


@contextmanager
def logs_to_stderr(people: logging.Handler | None = None) -> Iterator[None]:
    """Local commands keep stdout for their output (e.g. the NDJSON of --dry-run).

    The JSON log lines go to stderr, or, given `people`, that handler takes every
    record from INFO up instead (lines for a person; see tools/console.py).
    """
    before, _stream.name = _stream.name, "stderr"
    records = logging.getLogger(logger.name)  # the stdlib logger Powertools writes through
    handlers, level = records.handlers, records.level
    if people is not None:
        records.handlers = [people]
        records.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        _stream.name = before
        records.handlers = handlers
        records.setLevel(level)
