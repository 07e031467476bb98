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
    creds = standin.credentials
    for name, value in {
        "OPENSEARCH_ENDPOINT": standin.url,
        "OPENSEARCH_SERVICE": standin.service,
        "AWS_REGION": standin.region,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.session_token or "",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INDEX_PREFIX", raising=False)
    handler.reset_runtime()
    yield standin
    handler.reset_runtime()
