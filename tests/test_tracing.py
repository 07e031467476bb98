"""TRACING=true: an X-Ray subsegment around each _bulk call."""

from __future__ import annotations

import contextlib

from harness.standin import StandIn

from forwarder import handler
from forwarder.delivery import tracing
from forwarder.tools.local import LocalContext
from tests.events import event_with, one_event


class RecordingProvider:
    def __init__(self) -> None:
        self.spans: list[tuple[str, dict]] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: str):
        annotations: dict = {}
        self.spans.append((name, annotations))

        class Subsegment:
            def put_annotation(self, key: str, value) -> None:
                annotations[key] = value

        yield Subsegment()


def test_each_bulk_call_is_a_subsegment_with_its_document_count(forwarder_env: StandIn, monkeypatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(tracing, "_get_tracer", lambda: type("Tracer", (), {"provider": provider})())
    monkeypatch.setenv("TRACING", "true")
    monkeypatch.setenv("BULK_MAX_DOCS", "2")
    handler.reset_runtime()
    handler.lambda_handler(event_with(*(one_event(f"m{n}", str(n)) for n in range(3))), LocalContext())
    assert provider.spans == [("## _bulk", {"documents": 2}), ("## _bulk", {"documents": 1})]


def test_the_real_tracer_runs_outside_lambda_without_x_ray(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setenv("TRACING", "true")
    handler.reset_runtime()
    assert handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())["indexed"] == 1


def test_tracing_is_off_by_default_and_imports_nothing(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setattr(tracing, "_get_tracer", lambda: (_ for _ in ()).throw(AssertionError("tracer made")))
    assert handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())["indexed"] == 1
