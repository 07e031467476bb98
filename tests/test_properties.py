"""The delivery promise as a property of the whole handler, for any input and any answers.

Hypothesis draws an event (a valid payload; one broken at any layer: not an object, no
awslogs.data, not base64, not gzip, cut short, not JSON; or any JSON value in any
field) and a script of OpenSearch answers (served; whole-request errors; per-item
errors; dropped connections before and after indexing; slow answers; malformed,
truncated or lying answers), plays them through the real handler against the
stand-in, with a moto dead-letter bucket, and checks after every invocation:

- the report adds up: excluded + indexed + fallback + dead_lettered + failed == events;
- every event id is indexed exactly once (one index, one _id) or dead-lettered with its
  reason, never both; or, only when the invocation fails, among those it counts failed;
- an event that cannot become a document is dead-lettered as it came, alone: its
  neighbours are indexed;
- bad input is dead-lettered as it came, with its reason, and nothing of it is indexed;
- nothing but NotDeliveredError leaves the handler;
- the invocation ends within the function's timeout plus END_BOUND_SECONDS.

`make test` runs the "ci" profile (fixed seed, CI_EXAMPLES cases per property);
`make properties` the "long" one (a random seed each run, LONG_EXAMPLES cases).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from harness.standin import Fault, StandIn
from hypothesis import HealthCheck, given, settings
from hypothesis import event as count_case
from hypothesis import strategies as st

from forwarder import handler
from forwarder.delivery.send import MAYBE_INDEXED
from forwarder.errors import NotDeliveredError
from forwarder.tools.local import LocalContext
from tests.helpers import DeadLetterBucket

CI_EXAMPLES, LONG_EXAMPLES = 300, 5000
TIMEOUT_MS = 1500  # the function's timeout in this play
END_BOUND_SECONDS = 0.5  # past the timeout: the stated bound on an invocation's end
SLOWEST_ANSWER = 0.4  # seconds

settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,  # the same cases on every run: a failure here is a regression, not luck
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
PROFILE = os.environ.get("PROPERTIES_PROFILE", "ci")  # `make properties` sets "long"

GROUPS = [
    "/aws/containerinsights/prod/application/payments/payments-api",
    "/aws/lambda/checkout",
    "/x",
    "/aws/containerinsights/prod/application/pay\nments/api\u202e\x00",  # control and format characters
]
BLOCKED = (403, "cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)];")


# -- inputs -------------------------------------------------------------------------------
# Strings JavaScript reads as numbers, and some past a double (Infinity to it; past int()'s 4,300 digits).
numeric_strings = st.from_regex(r"[+-]?([0-9]{1,25}(\.[0-9]{1,3})?|0x[0-9a-f]{1,12})", fullmatch=True)
numeric_strings |= st.sampled_from(
    ["1" * 4301, "+" + "7" * 400, "-" + "9" * 309, "0x" + "f" * 3000, "0b" + "1" * 5000, "0" * 5000 + "7"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | numeric_strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
non_text_values = json_values.filter(lambda value: not isinstance(value, str))
# Messages whose JSON fields disagree in type make mapping conflicts (the safe form's path).
messages = st.one_of(
    st.sampled_from(['{"status": 200}', '{"status": "ok"}', '{"status": {"code": 5}}', '{"a.b": 1}', "[1, 2]", ""]),
    st.text(max_size=40),
    st.dictionaries(st.sampled_from(["status", "level", "a", "@timestamp", "msg"]), json_values, max_size=3).map(
        json.dumps
    ),
)
timestamps = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)  # 2000 to 2100


# Events that cannot become documents, each among good neighbours: dead-lettered alone, with their reason.
bad_events = st.sampled_from(
    [
        {"id": None, "timestamp": 1_795_391_999_000, "message": "null id"},
        {"id": "", "timestamp": 1_795_391_999_000, "message": "empty id"},
        {"id": "late", "timestamp": 10**15, "message": "past year 9999"},
        {"id": "early", "timestamp": -(10**14), "message": "before year 1"},
        {"id": "odd-time", "timestamp": "\ud800", "message": "a lone surrogate for a timestamp"},
        {"id": "no-message", "timestamp": 1_795_391_999_000},
        {"id": "fields", "timestamp": 1_795_391_999_000, "message": "x", "extractedFields": "a b"},
        ["not", "an", "object"],
    ]
)


@st.composite
def log_events(draw: st.DrawFn) -> list[Any]:
    ids = draw(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=14, unique=True))
    surrogate = draw(st.sampled_from(["", "", "", "\udc00"]))  # a lone surrogate in an id is still an id
    events: list[Any] = [
        {"id": f"{n:056d}{surrogate}", "timestamp": draw(timestamps), "message": draw(messages)} for n in ids
    ]
    for event in events:  # a filter pattern's fields, on some events
        if draw(st.integers(0, 3)) == 0:
            names = st.sampled_from(["status", "bytes", "tenant"])
            event["extractedFields"] = draw(st.dictionaries(names, numeric_strings | st.text(max_size=8), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        events.insert(draw(st.integers(0, len(events))), draw(bad_events))
    return events


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A subscription payload, sometimes with any JSON value in any field, a field gone or one added."""
    payload: dict[str, Any] = {
        "messageType": draw(st.sampled_from(["DATA_MESSAGE"] * 24 + ["CONTROL_MESSAGE"])),
        "owner": "123456789012",
        "logGroup": draw(st.sampled_from(GROUPS)),
        "logStream": "s-1",
        "subscriptionFilters": ["f"],
        "logEvents": draw(log_events()),
    }
    if draw(st.integers(0, 5)) == 0:  # hostile: a sixth of the payloads
        for _ in range(draw(st.integers(1, 3))):
            listed = payload.get("logEvents")  # replaced by any JSON value in an earlier round, maybe
            entries = [entry for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
            where = draw(st.sampled_from(["payload", "event"] if entries else ["payload"]))
            target = payload if where == "payload" else draw(st.sampled_from(entries))
            key = draw(st.sampled_from([*sorted(target), "extractedFields", "unexpected"]))
            action = draw(st.sampled_from(["replace", "remove"]))
            if action == "remove":
                target.pop(key, None)
            else:  # a text id is a valid one: other types only, so ids stay unique
                target[key] = draw(non_text_values if key == "id" else json_values)
    return payload


@st.composite
def lambda_events(draw: st.DrawFn) -> Any:
    """What Lambda hands the function: mostly a well-wrapped payload, else one broken at one layer."""
    payload = draw(payloads())
    # ensure_ascii keeps lone surrogates as escapes, as a hostile sender's JSON may hold them.
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()) or _has_surrogates(payload)).encode()
    layer = draw(st.sampled_from(["wrapped"] * 24 + ["not-object", "no-data", "not-base64", "not-gzip", "cut", "text"]))
    if layer == "not-object":
        return draw(non_text_values.filter(lambda value: not isinstance(value, dict)))
    if layer == "no-data":
        return {"awslogs": draw(json_values)}
    if layer == "not-base64":
        return {"awslogs": {"data": draw(st.text(min_size=1, max_size=30))}}
    if layer == "not-gzip":
        return {"awslogs": {"data": base64.b64encode(text).decode()}}
    packed = gzip.compress(text)
    if layer == "cut":
        packed = packed[: draw(st.integers(0, len(packed) - 1))]
    if layer == "text":
        packed = gzip.compress(draw(st.binary(max_size=40)))
    return {"awslogs": {"data": base64.b64encode(packed).decode()}}


def _has_surrogates(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


# -- OpenSearch's answers ---------------------------------------------------------------------
def _drop_last_item(answer: Any) -> Any:
    return {**answer, "items": answer["items"][:-1]} if isinstance(answer, dict) and answer.get("items") else answer


def _says_no_errors(answer: Any) -> Any:
    return {**answer, "errors": False} if isinstance(answer, dict) else answer


def _items_null(answer: Any) -> Any:
    return {**answer, "items": None} if isinstance(answer, dict) else answer


def _statuses_lost(answer: Any) -> Any:
    if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
        return answer
    return {
        **answer,
        "items": [{op: {**result, "status": None}} for item in answer["items"] for op, result in item.items()],
    }


answers = st.one_of(
    st.just(("serve", None)),
    st.sampled_from([429, 500, 502, 503, 504, 401, 413]).map(lambda status: ("fault", Fault(status=status))),
    st.booleans().map(lambda served: ("fault", Fault(drop=True, serve_first=served))),
    st.floats(0.05, SLOWEST_ANSWER).map(lambda delay: ("fault", Fault(delay=delay))),
    st.sampled_from([b"", b"{", b"not json", b'{"took":1}', b'{"items":"x","errors":true}', b"[]"]).flatmap(
        lambda raw: st.sampled_from([200, 502]).map(lambda status: ("fault", Fault(status=status, raw=raw)))
    ),
    st.sampled_from([_drop_last_item, _says_no_errors, _items_null, _statuses_lost]).map(
        lambda mangle: ("fault", Fault(mangle=mangle))
    ),
    # per-item answers for this request: transient refusals, whatever the item
    st.lists(st.sampled_from([None, None, 429, 500, 503]), min_size=1, max_size=8).map(lambda codes: ("items", codes)),
    # from here on, every request: an outage longer than the function's time
    st.sampled_from([503, 429]).map(lambda status: ("outage", Fault(status=status))),
)


@dataclass
class Script:
    """The answers, request by request, then served; ids ending in a refused digit are refused for good."""

    requests: deque[tuple[str, Any]]
    refused_digits: frozenset[str] = frozenset()
    _item_codes: deque[int | None] = field(default_factory=deque)

    def request_fault(self, path: str) -> Fault | None:
        self._item_codes.clear()
        if path != "/_bulk" or not self.requests:
            return None
        kind, what = self.requests[0] if self.requests[0][0] == "outage" else self.requests.popleft()
        if kind == "items":
            self._item_codes.extend(what)
            return None
        return what if kind in ("fault", "outage") else None

    def item_fault(self, index: str, doc_id: str | None, source: bytes) -> tuple[int, str, str] | None:
        if doc_id and doc_id[-1] in self.refused_digits:  # in every form, on every attempt
            return BLOCKED
        code = self._item_codes.popleft() if self._item_codes else None
        return None if code is None else (code, "es_rejected_execution_exception", "injected")


@st.composite
def scripts(draw: st.DrawFn) -> Script:
    refused = draw(st.lists(st.sampled_from("0123456789"), max_size=3))
    return Script(deque(draw(st.lists(answers, max_size=8))), frozenset(refused))


# -- the property ---------------------------------------------------------------------------
@pytest.fixture
def played(forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("BULK_MAX_DOCS", "4")  # several requests per payload, so the script's answers matter
    handler.reset_runtime()

    def play(event: Any, script: Script) -> tuple[dict[str, Any] | NotDeliveredError, float]:
        _forget(forwarder_env, dead_letter)
        forwarder_env.request_fault, forwarder_env.item_fault = script.request_fault, script.item_fault
        started = time.monotonic()
        try:
            outcome: dict[str, Any] | NotDeliveredError = handler.lambda_handler(
                event, LocalContext(timeout_ms=TIMEOUT_MS)
            )
        except NotDeliveredError as err:
            outcome = err
        return outcome, time.monotonic() - started

    return play


def _forget(standin: StandIn, dead_letter: DeadLetterBucket) -> None:
    """Each case starts from an empty cluster and an empty bucket (the connection stays warm)."""
    standin.indices.clear()
    standin.mappings.clear()
    standin.seen.clear()
    standin.queued_answers.clear()
    for key in dead_letter.object_keys():
        dead_letter.s3.delete_object(Bucket=dead_letter.name, Key=key)


def _log_events(event: Any) -> list[Any] | None:
    """The log events of a payload the test made whole (None for one it broke on purpose)."""
    try:
        payload = json.loads(zlib.decompress(base64.b64decode(event["awslogs"]["data"]), 31))
    except Exception:
        return None
    events = payload.get("logEvents") if isinstance(payload, dict) else None
    return events if isinstance(events, list) else None


def _unaccounted(events: list[Any], ids: set[str], rejected: list[Any]) -> list[Any]:
    """The events neither found by id (indexed, dead-lettered documents) nor dead-lettered as they came."""
    left, missing = list(rejected), []
    for event in events:
        event_id = event.get("id") if isinstance(event, dict) else None
        if isinstance(event_id, str) and event_id in ids:
            continue
        if event in left:
            left.remove(event)
            continue
        missing.append(event)
    return missing


@settings(settings.get_profile(PROFILE))
@given(event=lambda_events(), script=scripts())
def test_every_event_ends_indexed_once_or_dead_lettered_or_failed_loudly(
    played: Any, forwarder_env: StandIn, dead_letter: DeadLetterBucket, event: Any, script: Script
) -> None:
    outcome, elapsed = played(event, script)
    assert elapsed < TIMEOUT_MS / 1000 + END_BOUND_SECONDS, f"{elapsed:.2f} s"

    stored: dict[str, list[str]] = {}
    for index, docs in forwarder_env.indices.items():
        for doc_id in docs:
            stored.setdefault(doc_id, []).append(index)
    assert all(len(indices) == 1 for indices in stored.values()), "an id in two indices"
    assert all(index.isprintable() for index in forwarder_env.indices), "a control character in an index name"
    assert all(key.isprintable() for key in dead_letter.object_keys()), "a control character in a dead-letter key"
    entries = dead_letter.entries()
    documents = {entry["id"]: entry for entry in entries if entry["kind"] == "document"}
    assert all(entry["reason"] for entry in entries), "every dead-letter entry says why"
    both = {doc_id for doc_id in set(stored) & set(documents) if MAYBE_INDEXED not in documents[doc_id]["reason"]}
    assert not both, "indexed and dead-lettered, and the dead letter does not say it may be"

    count_case(f"ended: {'failed' if isinstance(outcome, NotDeliveredError) else outcome['status']}")
    rejected = [entry["event"] for entry in entries if entry["kind"] == "event"]
    assert all(entry["reason"].startswith("logEvents[") for entry in entries if entry["kind"] == "event")
    if isinstance(outcome, NotDeliveredError):
        failed, events = map(int, re.match(r"(\d+) of (\d+) documents", str(outcome)).groups())  # type: ignore[union-attr]
        log_events = _log_events(event)
        assert failed >= 1 and log_events is not None and events == len(log_events)
        missing = _unaccounted(log_events, set(stored) | set(documents), rejected)
        assert len(missing) <= failed, "an event neither indexed, dead, nor failed"
        return
    status = outcome["status"]
    if "error_type" in outcome:  # bad input: kept as it came, nothing of it indexed
        assert status == "dead_lettered"
        (entry,) = entries
        assert entry["kind"] == "payload" and outcome["reason"] and entry["reason"] == outcome["reason"]
        assert "logEvents[" not in outcome["reason"], "one event condemned its payload"
        awslogs = event.get("awslogs") if isinstance(event, dict) else None
        if isinstance(awslogs, dict) and isinstance(awslogs.get("data"), str):
            assert entry["data"] == awslogs["data"], "kept as it came"
        assert not stored and not forwarder_env.seen, "nothing of it sent"
        return
    if status == "control_message":
        assert not stored and not entries
        return
    log_events = _log_events(event)
    assert log_events is not None, "a payload the test broke was taken as good"
    report = {name: outcome[name] for name in ("excluded", "indexed", "fallback", "dead_lettered", "failed")}
    for name in ("fallback", "dead_lettered", "retried"):
        count_case(f"ok, with {name}: {'some' if outcome[name] else 'none'}")
    count_case(f"ok, with events that made no document: {'some' if rejected else 'none'}")
    assert sum(report.values()) == outcome["events"] == len(log_events) and report["failed"] == 0, report
    delivered = report["indexed"] + report["fallback"]
    assert status == ("ok" if not report["dead_lettered"] else "partial" if delivered else "dead_lettered"), outcome
    assert not _unaccounted(log_events, set(stored) | set(documents), rejected), "neither indexed nor dead-lettered"
    maybe_both = set(stored) & set(documents)  # said so in their reasons (checked above)
    assert len(stored) - len(maybe_both) == report["indexed"] + report["fallback"]
    assert len(documents) + len(rejected) == report["dead_lettered"]
