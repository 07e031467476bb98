"""The proof: 20,000 events through a storm of faults, and every one ends exactly once.

Against the stand-in with faults injected (per-item 429 on ~30% of items, bursts
of whole-request 429/503, dropped connections before and after indexing, slow
answers near the time budget, 413 on large bodies, mapping conflicts, the
1,000-field limit, and documents refused for good), with moto for the S3 dead
letter and the SQS on-failure queue, and Lambda's asynchronous retry policy
played by the test (3 attempts, then the on-failure queue): every event ends
up either in its index (by `_id`) or in the dead letter with its reason, never
both, never neither. A second run of the same events changes no count.
"""

from __future__ import annotations

import json
import random
import threading
import time
import zlib
from typing import Any

import boto3
import pytest
from harness import payload_gen
from harness.standin import Fault, StandIn
from moto import mock_aws

from forwarder import handler
from forwarder.errors import ForwarderError
from forwarder.tools import cli
from forwarder.tools.local import LocalContext
from tests.helpers import BUCKET, DeadLetterBucket, report_at_the_end, restore_standin_credentials

PAYLOADS, EVENTS = 20, 1000
LAMBDA_ATTEMPTS = 3  # an asynchronous invocation and Lambda's 2 retries
TIMEOUT_MS = 800  # the function's timeout in this play: slow answers run into it


def refused_for_good(doc_id: str) -> tuple[int, str, str] | None:
    """About 3% of the documents, whatever form they are sent in."""
    digest = zlib.crc32(doc_id.encode()) % 67
    if digest == 0:
        return 403, "cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)];"
    if digest == 1:
        return 400, "mapper_parsing_exception", "failed to parse field [@timestamp] of type [date]"
    return None


class Storm:
    """The faults, drawn from a seeded generator."""

    OUTAGE_AFTER = 100  # requests; then every request gets 503 for OUTAGE_SECONDS (a blue/green change)
    OUTAGE_SECONDS = 2.2  # longer than Lambda's 3 attempts: the event goes to the on-failure queue

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._burst: list[Fault] = []
        self._requests = 0
        self._outage_ends: float | None = None
        self.calm = False

    def item_fault(self, index: str, doc_id: str | None, source: bytes) -> tuple[int, str, str] | None:
        fault = refused_for_good(doc_id or "")
        if fault:
            return fault
        with self._lock:
            busy = not self.calm and self._rng.random() < 0.3
        return (
            (429, "es_rejected_execution_exception", "rejected execution of coordinating operation") if busy else None
        )

    def request_fault(self, path: str) -> Fault | None:
        with self._lock:
            if self.calm:
                return None
            self._requests += 1
            if self._requests == self.OUTAGE_AFTER:
                self._outage_ends = time.monotonic() + self.OUTAGE_SECONDS
            if self._outage_ends and time.monotonic() < self._outage_ends:
                return Fault(status=503)
            if self._burst:
                return self._burst.pop()
            draw = self._rng.random()
            if draw < 0.05:
                self._burst = [Fault(status=self._rng.choice([429, 503]))] * self._rng.randint(1, 4)
                return self._burst.pop()
            if draw < 0.08:
                return Fault(drop=True, serve_first=self._rng.random() < 0.5)
            if draw < 0.10:
                return Fault(delay=2.0)  # past the time budget: cut at the deadline
            return None


def wide_event(at: int, n: int, keys: range) -> dict[str, Any]:
    return {"id": f"{at:020d}{n:036d}", "timestamp": at, "message": json.dumps({f"k{i}": i for i in keys})}


def make_events() -> tuple[list[dict[str, Any]], set[str]]:
    docs = payload_gen.payloads(seed=2026, count=PAYLOADS, events=EVENTS)  # mixed shapes: mapping conflicts
    first = docs[0]["logEvents"][0]["timestamp"]
    # Two wide events in one index: together past the 1,000-field limit.
    docs[0]["logEvents"][-2:] = [wide_event(first, 1, range(600)), wide_event(first, 2, range(600, 1200))]
    ids = {event["id"] for doc in docs for event in doc["logEvents"]}
    assert len(ids) == PAYLOADS * EVENTS
    return [payload_gen.event_for(doc) for doc in docs], ids


def invoke_like_lambda(event: dict[str, Any], sqs: Any, queue: str) -> int:
    """Lambda's asynchronous invocation: up to 3 attempts, then the on-failure destination."""
    for attempt in range(1, LAMBDA_ATTEMPTS + 1):
        try:
            handler.lambda_handler(event, LocalContext(timeout_ms=TIMEOUT_MS))
            return attempt
        except ForwarderError as err:
            failure = err
    record = {
        "version": "1.0",
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": LAMBDA_ATTEMPTS},
        "requestPayload": event,
        "responsePayload": {"errorType": type(failure).__name__, "errorMessage": str(failure)},
    }
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    return LAMBDA_ATTEMPTS + 1


@pytest.fixture
def world(forwarder_env: StandIn, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BULK_MAX_BYTES", str(1024 * 1024))
    monkeypatch.setenv("RETRY_MAX_SECONDS", "30")  # replay's budget, outside Lambda
    forwarder_env.max_content_length = 48 * 1024  # wire bytes: a whole payload (~70 KB gzip) gets 413
    with mock_aws():
        restore_standin_credentials(forwarder_env, monkeypatch)
        s3 = boto3.client("s3", region_name=forwarder_env.region)
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs", region_name=forwarder_env.region)
        queue = sqs.create_queue(QueueName="forwarder-on-failure")["QueueUrl"]
        monkeypatch.setenv("DEAD_LETTER_BUCKET", BUCKET)
        handler.reset_runtime()
        yield forwarder_env, DeadLetterBucket(s3), sqs, queue
        handler.reset_runtime()


def run_all(events: list[dict[str, Any]], standin: StandIn, sqs: Any, queue: str, capsys) -> dict[str, int]:
    storm = Storm(seed=len(standin.seen))
    standin.item_fault, standin.request_fault = storm.item_fault, storm.request_fault
    attempts = [invoke_like_lambda(event, sqs, queue) for event in events]
    storm.calm = True  # the domain recovers; what is left is replayed from the on-failure queue
    assert cli.main(["replay", "sqs://" + queue.removeprefix("https://")]) == 0
    capsys.readouterr()
    return {
        "retried_by_lambda": sum(1 for n in attempts if 1 < n <= LAMBDA_ATTEMPTS),
        "to_on_failure_queue": sum(1 for n in attempts if n > LAMBDA_ATTEMPTS),
    }


def where_everything_is(standin: StandIn, dead_letter: DeadLetterBucket) -> tuple[dict[str, str], dict[str, dict]]:
    indexed: dict[str, str] = {}
    for index, docs in standin.indices.items():
        for doc_id, doc in docs.items():
            assert doc_id not in indexed, f"{doc_id} in two indices"
            assert doc["_source"]["@id"] == doc_id
            indexed[doc_id] = index
    dead = {entry["id"]: entry for entry in dead_letter.entries() if entry["kind"] == "document"}
    return indexed, dead


def test_twenty_thousand_events_through_a_storm_end_exactly_once(world, capsys) -> None:
    standin, dead_letter, sqs, queue = world
    events, ids = make_events()
    stats = run_all(events, standin, sqs, queue, capsys)
    indexed, dead = where_everything_is(standin, dead_letter)

    assert set(indexed).isdisjoint(dead), "never both"
    assert set(indexed) | set(dead) == ids, "never neither"
    assert set(dead) == {doc_id for doc_id in ids if refused_for_good(doc_id)}, "only what is refused for good"
    for entry in dead.values():
        assert entry["reason"] and entry["status"] in (400, 403) and entry["attempts"] >= 1
        assert entry["source"]["@id"] == entry["id"]
    fallback = [
        doc for docs in standin.indices.values() for doc in docs.values() if "@fallback_reason" in doc["_source"]
    ]
    reasons = " ".join(doc["_source"]["@fallback_reason"] for doc in fallback)
    assert "failed to parse field" in reasons and "Limit of total fields [1000]" in reasons

    # The storm happened: every kind of fault was met.
    statuses = [seen.status for seen in standin.seen]
    assert statuses.count(413) > 0 and statuses.count(429) > 0 and statuses.count(503) > 0
    assert stats["retried_by_lambda"] > 0, "some invocations ran out of time and Lambda retried them"
    assert stats["to_on_failure_queue"] > 0, "the outage outlasted Lambda's retries"
    assert len(ids) == PAYLOADS * EVENTS == 20_000
    report_at_the_end(
        f"the storm: {len(ids)} events: {len(indexed)} indexed ({len(fallback)} in the safe form), "
        f"{len(dead)} dead-lettered; {len(standin.seen)} requests "
        f"({statuses.count(429)} x 429, {statuses.count(503)} x 503, {statuses.count(413)} x 413); {stats}"
    )

    # A second run of the same events adds nothing and dead-letters nothing more.
    counts = (standin.count(), len(dead), len(fallback))
    run_all(events, standin, sqs, queue, capsys)
    indexed_again, dead_again = where_everything_is(standin, dead_letter)
    assert indexed_again == indexed and set(dead_again) == set(dead)
    fallback_again = sum(
        1 for docs in standin.indices.values() for doc in docs.values() if "@fallback_reason" in doc["_source"]
    )
    # A document refused for a new field's two kinds can land whole once another document has mapped
    # that field (a real node does the same); a mapping never changes, so none goes the other way.
    assert (standin.count(), len(dead_again)) == counts[:2] and fallback_again <= counts[2]
