"""Shared fixtures: a running stand-in and the environment the handler reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forwarder import handler
from tests.standin import StandIn


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def forwarder_env(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The handler configured for the stand-in, with the stand-in's test credentials."""
    for name, value in standin.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INDEX_PREFIX", raising=False)
    handler.reset_runtime()
    yield standin
    handler.reset_runtime()
