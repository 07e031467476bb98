"""Subscription events as tests build them, and the handler's printed lines as tests read them."""

from __future__ import annotations

import json

from harness import payload_gen

GROUP = "/aws/containerinsights/prod/application/payments/payments-api"


def log_lines(text: str) -> list[dict]:
    """The log lines (metrics' EMF lines, which carry `_aws`, left out)."""
    return [entry for entry in map(json.loads, filter(_is_json, text.splitlines())) if "_aws" not in entry]


def emf_lines(text: str) -> list[dict]:
    return [entry for entry in map(json.loads, filter(_is_json, text.splitlines())) if "_aws" in entry]


def single(value: float | list[float]) -> float:
    """EMF writes one value as a number or as a list of one."""
    if isinstance(value, list):
        (value,) = value
    return value


def _is_json(line: str) -> bool:
    return line.startswith("{")


def one_event(message: str, id: str, ts: int = 1_795_391_999_000) -> dict:
    return {"id": id, "timestamp": ts, "message": message}


def event_with(*log_events: dict, group: str = GROUP) -> dict:
    return payload_gen.event_for(
        {
            "messageType": "DATA_MESSAGE",
            "owner": "123456789012",
            "logGroup": group,
            "logStream": "s-1",
            "subscriptionFilters": ["f"],
            "logEvents": list(log_events),
        }
    )
