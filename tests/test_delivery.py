"""Delivery through the real handler: chunking, 413 splits, retries, fallback, dead letter, deadline."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import random
import time
from collections.abc import Iterator

import botocore.session
import pytest
from harness import payload_gen
from harness.standin import Fault, StandIn
from hypothesis import given, settings
from hypothesis import strategies as st

from forwarder import budget, handler
from forwarder.budget import Deadline
from forwarder.delivery import bulk, send
from forwarder.delivery.sink import OpenSearchSink
from forwarder.documents import transform
from forwarder.documents.document import Document, Documents
from forwarder.errors import NotBase64Error, NotDeliveredError
from forwarder.settings import Settings
from forwarder.sources import decode
from forwarder.tools.local import LocalContext
from tests.events import GROUP, event_with, log_lines, one_event
from tests.helpers import (
    FAST_RETRIES,
    DeadLetterBucket,
    client_for,
    restore_standin_credentials,
    self_signed_certificate,
)

INDEX = "mydata-payments-payments-api-2026.11.22"


def bulk_report(out: str) -> dict:
    return next(line for line in log_lines(out) if line["message"] == "bulk report")


def bulk_requests(standin: StandIn) -> list:
    return [seen for seen in standin.seen if seen.route.endswith("_bulk")]


def adds_up(result: dict) -> bool:
    return result["indexed"] + result["fallback"] + result["dead_lettered"] + result["failed"] == result["events"]


# -- chunking ---------------------------------------------------------------------
def test_requests_are_bounded_by_document_count(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setenv("BULK_MAX_DOCS", "100")
    handler.reset_runtime()
    result = handler.lambda_handler(
        payload_gen.event_for(payload_gen.clean_payload(seed=1, events=250)), LocalContext()
    )
    assert result["indexed"] == 250 and result["requests"] == 3
    assert forwarder_env.count() == 250


def test_requests_are_bounded_by_ndjson_bytes_before_compression(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setenv("BULK_MAX_BYTES", "20000")
    handler.reset_runtime()
    result = handler.lambda_handler(
        payload_gen.event_for(payload_gen.clean_payload(seed=2, events=300)), LocalContext()
    )
    sizes = [seen.body_bytes for seen in bulk_requests(forwarder_env)]
    assert result["indexed"] == 300 and len(sizes) > 5
    assert max(sizes) <= 20000 and sum(sizes) > 5 * 20000 * 0.8, "chunks are filled, not tiny"


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=500), max_size=60),
    max_bytes=st.integers(min_value=1, max_value=2000),
    max_docs=st.integers(min_value=1, max_value=20),
)
def test_spans_are_the_longest_runs_within_both_bounds(sizes: list[int], max_bytes: int, max_docs: int) -> None:
    found = list(bulk.spans(sizes, max_bytes, max_docs))
    covered = [position for start, stop in found for position in range(start, stop)]
    assert covered == list(range(len(sizes))), "consecutive, each item once, nothing skipped"
    for start, stop in found:
        run = sizes[start:stop]
        assert 1 <= len(run) <= max_docs
        assert sum(run) <= max_bytes or len(run) == 1, "only an item bigger than the bound goes alone over it"
        if stop < len(sizes):  # the next item would break a bound, so the run could not be longer
            assert len(run) == max_docs or sum(run) + sizes[stop] > max_bytes


_texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)  # escapes, non-ASCII and all


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from(["mydata-a-2026.11.22", "mydata-\u00e9-2026.11.23"]), _texts), max_size=30),
    with_id=st.booleans(),
)
def test_the_whole_body_is_the_lines_joined_and_never_smaller_than_its_bound(
    rows: list[tuple[str, str]], with_id: bool
) -> None:
    documents = Documents([index for index, _ in rows], [doc_id for _, doc_id in rows], [b'{"a":1}'] * len(rows))
    body = bulk.ndjson(documents, with_id)
    assert body == b"".join(bulk.lines(documents, with_id))
    assert bulk.least_size(documents, with_id) <= len(body), "delivery joins the body whole only where it may fit"
    if all(doc_id.isascii() and doc_id.isalnum() for _, doc_id in rows) and all(i.isascii() for i, _ in rows):
        assert bulk.least_size(documents, with_id) == len(body)


def test_a_payload_whose_body_just_passes_the_bound_goes_in_requests_within_it(
    forwarder_env: StandIn, monkeypatch
) -> None:
    payload = payload_gen.clean_payload(seed=2, events=300)
    made = transform.to_documents(decode.parse_payload(json.dumps(payload).encode()), Settings.from_env().shape)
    body = len(bulk.ndjson(made, with_id=True))
    monkeypatch.setenv("BULK_MAX_BYTES", str(body - 1))  # its sources alone fit: the whole body does not
    handler.reset_runtime()
    result = handler.lambda_handler(payload_gen.event_for(payload), LocalContext())
    sizes = [seen.body_bytes for seen in bulk_requests(forwarder_env)]
    assert result["indexed"] == 300 and adds_up(result)
    assert len(sizes) == 2 and max(sizes) <= body - 1 and sum(sizes) == body


def test_a_413_splits_the_request_until_the_halves_fit(forwarder_env: StandIn) -> None:
    forwarder_env.max_content_length = 3000  # wire bytes, gzip-compressed
    result = handler.lambda_handler(
        payload_gen.event_for(payload_gen.clean_payload(seed=3, events=200)), LocalContext()
    )
    statuses = [seen.status for seen in bulk_requests(forwarder_env)]
    assert result["indexed"] == 200 and adds_up(result)
    assert statuses[0] == 413 and statuses.count(413) >= 3 and statuses[-1] == 200
    assert result["requests"] == len(statuses)


def test_one_document_over_the_domain_limit_is_dead_lettered_and_the_rest_indexed(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    forwarder_env.max_content_length = 2000
    rng = random.Random(4)
    huge = " ".join(str(rng.getrandbits(64)) for _ in range(600))  # ~12 KB; ~5 KB compressed
    event = event_with(one_event("small one", "a"), one_event(huge, "big"), one_event("small two", "c"))
    result = handler.lambda_handler(event, LocalContext())
    assert (result["indexed"], result["dead_lettered"]) == (2, 1)
    (entry,) = dead_letter.entries()
    assert (entry["id"], entry["status"], entry["error_type"]) == ("big", 413, "http_error")
    assert "Request size exceeded 2000 bytes" in entry["reason"]
    assert entry["source"]["@message"] == huge


# -- retries ------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_refused_request_is_retried_until_indexed(forwarder_env: StandIn, status: int) -> None:
    forwarder_env.queue_answer(status, times=3)
    result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
    assert [seen.status for seen in bulk_requests(forwarder_env)] == [status, status, status, 200]
    assert (result["indexed"], result["retried"], result["requests"]) == (2, 2, 4)
    assert forwarder_env.count() == 2


def test_an_item_error_is_read_even_where_the_answer_says_errors_false(forwarder_env: StandIn) -> None:
    """parse_items trusts `"errors": false` only in an answer that holds no "error" at all."""
    refused = {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "busy"}}
    answer = {"took": 1, "errors": False, "items": [{"index": {"status": 201}}, {"index": refused}]}
    forwarder_env.queue_answer(200, answer)
    result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
    assert (result["indexed"], result["retried"], result["requests"]) == (2, 1, 2)
    assert set(forwarder_env.documents(INDEX)) == {"2"}, "only the refused item is sent again"


@pytest.mark.parametrize(
    "item",
    [
        {"index": {"error": {"type": "x", "reason": "an error but no status"}}},
        {"index": {"status": 503}},  # a 5xx in an answer that says "errors": false
        {"index": {"status": None}},
        {"index": {"status": "201"}},
        {"index": {}},
        {},
        None,
        {"index": {"status": 201}, "create": {"status": 201}},
    ],
    ids=["no-status", "5xx-errors-false", "status-null", "status-string", "empty-result", "empty-item", "null", "two"],
)
def test_an_item_the_answer_does_not_account_for_is_never_counted_indexed(forwarder_env: StandIn, item) -> None:
    """Whatever shape the second item has, it is sent again, and the report still adds up."""
    forwarder_env.queue_answer(200, {"took": 1, "errors": False, "items": [{"index": {"status": 201}}, item]})
    result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
    assert (result["indexed"], result["retried"], result["requests"]) == (2, 1, 2) and adds_up(result)
    assert set(forwarder_env.documents(INDEX)) == {"2"}, "the unaccounted item is sent again"


def test_a_refusal_quoting_a_lone_surrogate_is_read_item_by_item(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    """orjson refuses a lone surrogate (the stand-in writes it as an escape); the answer is still read."""
    refused = {"status": 400, "error": {"type": "illegal_argument_exception", "reason": "bad value \ud800 here"}}
    items = [{"index": {"status": 201}}, {"index": refused}]
    forwarder_env.queue_answer(200, {"took": 1, "errors": True, "items": items})
    result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
    assert (result["indexed"], result["dead_lettered"], result["requests"]) == (1, 1, 1) and adds_up(result)
    (entry,) = dead_letter.entries()
    assert entry["id"] == "2" and entry["reason"] == "bad value \\ud800 here", "kept, written as an escape"


def test_only_the_items_refused_with_429_are_sent_again(forwarder_env: StandIn, capfd) -> None:
    rng = random.Random(5)
    refused: list[str] = []

    def busy(index: str, doc_id: str | None, source: bytes):
        if rng.random() < 0.3:
            refused.append(doc_id or "")
            return 429, "es_rejected_execution_exception", "rejected execution of coordinating operation"
        return None

    forwarder_env.item_fault = busy
    doc = payload_gen.clean_payload(seed=6, events=400)
    result = handler.lambda_handler(payload_gen.event_for(doc), LocalContext())
    assert result["indexed"] == 400 and forwarder_env.count() == 400 and adds_up(result)
    assert len(refused) > 100
    first, second, *_ = bulk_requests(forwarder_env)
    assert first.body_bytes > second.body_bytes
    assert result["retried"] == len(set(refused))
    out = capfd.readouterr().out
    assert bulk_report(out)["level"] == "INFO"
    first_retry = next(line for line in log_lines(out) if line["message"] == "retrying")
    assert first_retry["round"] == 1 and 60 < first_retry["documents"] < 200, "about 30% of 400"
    assert (first_retry["status"], first_retry["error_type"]) == (429, "es_rejected_execution_exception")
    assert 0 <= first_retry["in_seconds"] <= float(FAST_RETRIES["RETRY_BASE_DELAY_SECONDS"]) and first_retry["last"]


def test_dropped_connections_and_slow_answers_are_retried(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setenv("OPENSEARCH_READ_TIMEOUT", "0.3")
    handler.reset_runtime()
    faults = iter([Fault(drop=True), Fault(drop=True, serve_first=True), Fault(delay=1.0)])
    forwarder_env.request_fault = lambda path: next(faults, None)
    result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
    assert (result["indexed"], result["requests"]) == (2, 4)
    assert forwarder_env.count() == 2, "the re-sent documents overwrote themselves by _id"
    assert forwarder_env.indices[INDEX]["1"]["_version"] == 3, "served by the 2nd, 3rd and 4th request"


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    ceilings: list[float] = []
    settings = Settings.from_env(
        {
            "OPENSEARCH_ENDPOINT": "http://127.0.0.1:1",
            "AWS_REGION": "us-east-1",
            "RETRY_BASE_DELAY_SECONDS": "0.1",
            "RETRY_MAX_DELAY_SECONDS": "1",
        }
    )
    run = send.Delivery(
        OpenSearchSink(settings),
        settings,
        Deadline(3600),
        sleep=lambda seconds: None,
        jitter=lambda low, high: ceilings.append(high) or high * 0.5,
    )
    delays = [run._backoff_delay(backoffs) for backoffs in range(6)]
    assert ceilings == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert delays == [ceiling * 0.5 for ceiling in ceilings]


def test_retries_stop_at_the_deadline_and_the_invocation_fails(forwarder_env: StandIn, capfd) -> None:
    forwarder_env.queue_answer(503, times=10_000)
    context = LocalContext(timeout_ms=1200)  # margin: a quarter of it, so retries stop at ~0.9 s
    started = time.monotonic()
    with pytest.raises(NotDeliveredError, match="2 of 2 documents are neither indexed nor dead-lettered"):
        handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), context)
    elapsed = time.monotonic() - started
    assert 0.85 < elapsed < 1.2, elapsed
    report = bulk_report(capfd.readouterr().out)["report"]
    assert (report["failed"], report["indexed"]) == (2, 0) and report["requests"] > 5


def test_a_slow_answer_near_the_deadline_is_cut_at_the_deadline(forwarder_env: StandIn) -> None:
    forwarder_env.request_fault = lambda path: Fault(delay=5.0)
    started = time.monotonic()
    # The read timeout and the whole answer's cut-off are both the time left: either may end it.
    with pytest.raises(NotDeliveredError, match=r"ReadTimeoutError|no whole answer"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext(timeout_ms=1000))
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"{elapsed:.2f} s: OPENSEARCH_READ_TIMEOUT (30 s) was not shortened to the time left"


# -- mapping conflicts: the safe form -------------------------------------------------
def test_a_mapping_conflict_is_indexed_in_its_safe_form(forwarder_env: StandIn, capfd) -> None:
    event = event_with(
        one_event('{"status": 200}', "a"),
        one_event('{"status": "OK", "user": {"id": 7}}', "b"),
        one_event('{"other": true}', "c"),
    )
    result = handler.lambda_handler(event, LocalContext())
    assert (result["indexed"], result["fallback"], result["dead_lettered"], result["failed"]) == (2, 1, 0, 0)
    safe = forwarder_env.documents(INDEX)["b"]
    assert json.loads(safe["@fields_json"]) == {"status": "OK", "user": {"id": 7}}
    assert safe["@fallback_reason"].startswith("mapper_parsing_exception: failed to parse field [status] of type")
    assert safe["@message"] == '{"status": "OK", "user": {"id": 7}}' and safe["@id"] == "b"
    assert set(safe) == {
        "@id",
        "@timestamp",
        "@message",
        "@owner",
        "@log_group",
        "@log_stream",
        "@fields_json",
        "@fallback_reason",
    }
    assert bulk_report(capfd.readouterr().out)["report"]["fallback"] == 1


def test_the_field_limit_falls_back_to_the_safe_form(forwarder_env: StandIn) -> None:
    wide = json.dumps({f"f{i}": i for i in range(1001)})
    result = handler.lambda_handler(event_with(one_event(wide, "w")), LocalContext())
    assert result["fallback"] == 1
    assert "Limit of total fields [1000]" in forwarder_env.documents(INDEX)["w"]["@fallback_reason"]


def test_a_refused_safe_form_goes_to_the_dead_letter_with_both_reasons(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capfd
) -> None:
    def always_refuse_b(index: str, doc_id: str | None, source: bytes):
        return (400, "mapper_parsing_exception", "failed to parse [@timestamp]") if doc_id == "b" else None

    forwarder_env.item_fault = always_refuse_b
    result = handler.lambda_handler(event_with(one_event("a", "a"), one_event('{"k": 1}', "b")), LocalContext())
    assert (result["indexed"], result["fallback"], result["dead_lettered"]) == (1, 0, 1) and adds_up(result)
    (entry,) = dead_letter.entries()
    assert entry["key"].startswith("dead-letter/2026/11/22/" + INDEX + "/") and entry["key"].endswith(".ndjson.gz")
    assert (entry["kind"], entry["index"], entry["id"], entry["status"], entry["attempts"]) == (
        "document",
        INDEX,
        "b",
        400,
        2,
    )
    assert entry["reason"] == (
        "failed to parse [@timestamp] (safe form, after: mapper_parsing_exception: failed to parse [@timestamp])"
    )
    assert entry["source"]["k"] == 1 and entry["source"]["@id"] == "b", "the document as made, not its safe form"
    assert (entry["log_group"], entry["log_stream"]) == (GROUP, "s-1")
    report = bulk_report(capfd.readouterr().out)
    assert report["level"] == "WARNING" and report["dead_letter"] == [f"s3://{dead_letter.name}/{entry['key']}"]
    assert "source" not in report["undelivered"][0], "logs never hold whole documents"


@pytest.mark.parametrize(
    ("date_format", "index", "day"),
    [
        ("weekly", "mydata-payments-payments-api-2026.w47", "2026/11/16"),  # the Monday of the week of 2026-11-22
        ("monthly", "mydata-payments-payments-api-2026.11", "2026/11/01"),
    ],
)
def test_a_weekly_or_monthly_dead_letter_is_filed_under_its_index_date(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch, date_format: str, index: str, day: str
) -> None:
    monkeypatch.setenv("INDEX_DATE_FORMAT", date_format)
    handler.reset_runtime()
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    result = handler.lambda_handler(event_with(one_event("a", "a")), LocalContext())
    assert result["dead_lettered"] == 1
    (entry,) = dead_letter.entries()
    assert entry["index"] == index and entry["key"].startswith(f"dead-letter/{day}/{index}/")


def test_log_failed_documents_puts_the_whole_source_in_the_report(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("LOG_FAILED_DOCUMENTS", "true")
    handler.reset_runtime()
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    handler.lambda_handler(event_with(one_event('{"k": "v"}', "a")), LocalContext())
    (item,) = bulk_report(capfd.readouterr().out)["undelivered"]
    assert json.loads(item["source"])["k"] == "v" and json.loads(item["source"])["@id"] == "a"


def test_a_non_retryable_item_error_is_dead_lettered_without_fallback(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (
        403,
        "cluster_block_exception",
        "index [x] blocked by: [FORBIDDEN/8/index write (api)];",
    )
    result = handler.lambda_handler(event_with(one_event("a", "a")), LocalContext())
    assert (result["dead_lettered"], result["requests"]) == (1, 1)
    assert dead_letter.entries()[0]["error_type"] == "cluster_block_exception"


# -- the dead letter ---------------------------------------------------------------------
def test_the_same_failures_again_overwrite_their_dead_letter_object(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    event = event_with(one_event("a", "a"), one_event("b", "b"))
    handler.lambda_handler(event, LocalContext())
    handler.lambda_handler(event, LocalContext())  # Lambda's retry, or a second delivery of the event
    assert len(dead_letter.object_keys()) == 1 and len(dead_letter.entries()) == 2


def test_an_undecodable_event_is_dead_lettered_raw_with_its_error(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    event = {"awslogs": {"data": "%%%not base64%%%"}}
    result = handler.lambda_handler(event, LocalContext())
    (entry,) = dead_letter.entries()
    assert result["status"] == "dead_lettered" and result["dead_letter"] == f"s3://{dead_letter.name}/{entry['key']}"
    assert entry["key"].startswith("dead-letter/payloads/")
    assert (entry["kind"], entry["error_type"], entry["data"]) == ("payload", "NotBase64Error", "%%%not base64%%%")
    assert "base64" in entry["reason"]
    assert forwarder_env.seen == []


def test_without_a_dead_letter_bucket_bad_input_fails_the_invocation(forwarder_env: StandIn) -> None:
    with pytest.raises(NotBase64Error):
        handler.lambda_handler({"awslogs": {"data": "%%%"}}, LocalContext())


def test_an_unwritable_dead_letter_fails_the_invocation(forwarder_env: StandIn, dead_letter: DeadLetterBucket) -> None:
    dead_letter.s3.delete_bucket(Bucket=dead_letter.name)
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    with pytest.raises(NotDeliveredError, match=r"dead letter: cannot write s3://forwarder-dead-letter/.*NoSuchBucket"):
        handler.lambda_handler(event_with(one_event("a", "a")), LocalContext())


def test_writing_the_dead_letter_is_retried(forwarder_env: StandIn, dead_letter: DeadLetterBucket) -> None:
    from botocore.awsrequest import AWSResponse

    failures = iter([500, 503])

    class EmptyBody:
        def stream(self, **kwargs):
            yield b""

    def flaky(request, **kwargs):
        status = next(failures, None)
        if status is None:
            return None  # let moto answer
        return AWSResponse(request.url, status, {}, EmptyBody())

    store = handler.runtime().dead_letter
    assert store is not None
    store._client().meta.events.register_first("before-send.s3.PutObject", flaky)
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    result = handler.lambda_handler(event_with(one_event("a", "a")), LocalContext())
    assert result["dead_lettered"] == 1 and len(dead_letter.entries()) == 1
    assert next(failures, None) is None, "both injected failures were met"


# -- OpenSearch Serverless: no _id, so nothing is re-sent that may be indexed ---------------
@pytest.fixture
def serverless(monkeypatch) -> StandIn:
    with StandIn(service="aoss") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        for name, value in FAST_RETRIES.items():
            monkeypatch.setenv(name, value)
        yield server


def test_serverless_dead_letters_what_may_already_be_indexed_instead_of_resending(
    serverless: StandIn, dead_letter_store_for
) -> None:
    serverless.request_fault = lambda path: Fault(drop=True, serve_first=True)
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert (result["dead_lettered"], result["requests"]) == (1, 1)
    (entry,) = dead_letter_store_for.entries()
    assert entry["reason"].startswith("no answer and no _id to re-send safely: it may have been indexed")


def test_serverless_is_asked_for_the_whole_answer_and_a_domain_for_statuses_and_errors(
    serverless: StandIn, standin: StandIn
) -> None:
    """Serverless is not known to take filter_path; a domain answers ~25 bytes an item instead of ~190."""
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert result["indexed"] == 1 and [seen.path for seen in serverless.seen] == ["/_bulk"]
    domain = OpenSearchSink(Settings.from_env(standin.env()))
    answer = domain.bulk(b'{"index":{"_index":"mydata-x","_id":"1"}}\n{"a":1}\n')
    assert json.loads(answer.body) == {"errors": False, "items": [{"index": {"status": 201}}]}
    assert [seen.route for seen in standin.seen] == ["/_bulk"] and standin.seen[0].path != "/_bulk"


def test_serverless_dead_letters_pending_work_when_time_runs_out(serverless: StandIn, dead_letter_store_for) -> None:
    serverless.queue_answer(503, times=10_000)
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext(timeout_ms=400))
    assert (result["dead_lettered"], result["failed"]) == (1, 0)
    assert dead_letter_store_for.entries()[0]["reason"].startswith("retry time ran out; last: _bulk answered HTTP 503")


@pytest.fixture
def dead_letter_store_for(serverless: StandIn, monkeypatch) -> DeadLetterBucket:
    from moto import mock_aws

    with mock_aws():
        restore_standin_credentials(serverless, monkeypatch)
        s3 = botocore.session.get_session().create_client("s3", region_name=serverless.region)
        s3.create_bucket(Bucket="forwarder-dead-letter")
        monkeypatch.setenv("DEAD_LETTER_BUCKET", "forwarder-dead-letter")
        handler.reset_runtime()
        yield DeadLetterBucket(s3)
        handler.reset_runtime()


def test_the_report_partitions_the_events(forwarder_env: StandIn, dead_letter: DeadLetterBucket) -> None:
    def faults(index: str, doc_id: str | None, source: bytes):
        if doc_id == "dead":
            return 403, "cluster_block_exception", "read-only"
        return None

    forwarder_env.item_fault = faults
    forwarder_env.queue_answer(429)
    event = event_with(
        one_event('{"n": 1}', "ok"),
        one_event('{"n": "one"}', "safe"),
        one_event("x", "dead"),
    )
    result = handler.lambda_handler(event, LocalContext())
    assert {k: result[k] for k in ("events", "indexed", "fallback", "dead_lettered", "failed", "retried")} == {
        "events": 3,
        "indexed": 1,
        "fallback": 1,
        "dead_lettered": 1,
        "failed": 0,
        "retried": 3,
    }


def test_dead_letter_objects_are_gzip_ndjson(forwarder_env: StandIn, dead_letter: DeadLetterBucket) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    handler.lambda_handler(event_with(one_event("a", "a"), one_event("b", "b")), LocalContext())
    (key,) = dead_letter.object_keys()
    head = dead_letter.s3.head_object(Bucket=dead_letter.name, Key=key)
    assert (head["ContentType"], head["ContentEncoding"]) == ("application/x-ndjson", "gzip")
    raw = dead_letter.s3.get_object(Bucket=dead_letter.name, Key=key)["Body"].read()
    assert len(gzip.decompress(raw).splitlines()) == 2


def test_documents_of_several_days_go_to_one_object_per_index(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    day = payload_gen.DAY_MS
    handler.lambda_handler(
        event_with(one_event("a", "a"), one_event("b", "b", 1_795_391_999_000 + day)), LocalContext()
    )
    dates = sorted(key.split("/")[1:4] for key in dead_letter.object_keys())
    assert dates == [["2026", "11", "22"], ["2026", "11", "23"]]


def test_deliver_returns_pending_instead_of_raising(forwarder_env: StandIn) -> None:
    standin = forwarder_env
    standin.queue_answer(503, times=10_000)
    settings = Settings.from_env({**standin.env(), "RETRY_BASE_DELAY_SECONDS": "0.001"})
    doc = Document(INDEX, "1", b'{"@message":"x"}')
    outcome = send.deliver(Documents.of([doc]), OpenSearchSink(settings), settings, Deadline(0.2))
    (pending,) = outcome.pending
    assert (pending.document, pending.status, pending.attempts > 1) == (doc, 503, True)


@pytest.mark.parametrize(
    ("remaining_ms", "cap", "budget"),
    [
        (60_000, "900", 55.0),  # the margin: 5 s
        (3_000, "900", 2.25),  # the Lambda default of 3 s: a quarter kept back
        (60_000, "10", 10.0),  # RETRY_MAX_SECONDS caps it
    ],
)
def test_the_deadline_keeps_a_margin_before_the_function_timeout(remaining_ms: int, cap: str, budget: float) -> None:
    settings = Settings.from_env(
        {"OPENSEARCH_ENDPOINT": "http://127.0.0.1:1", "AWS_REGION": "x", "RETRY_MAX_SECONDS": cap}
    )

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return remaining_ms

    now = [100.0]
    deadline = Deadline.for_invocation(Context(), settings)
    assert deadline.remaining() == pytest.approx(budget, abs=0.05)
    clock_deadline = Deadline(budget, clock=lambda: now[0])
    now[0] += budget
    assert clock_deadline.expired()


BAD_EVENTS = {
    "timestamp-far-future": {"id": "1", "timestamp": 10**15, "message": "x"},
    "timestamp-far-past": {"id": "1", "timestamp": -(10**14), "message": "x"},
    "extracted-fields-string": {"id": "1", "timestamp": 1_795_391_999_000, "message": "x", "extractedFields": "a b"},
    "extracted-fields-number": {"id": "1", "timestamp": 1_795_391_999_000, "message": "x", "extractedFields": 5},
    "id-null": {"id": None, "timestamp": 1_795_391_999_000, "message": "x"},
    "id-number": {"id": 17, "timestamp": 1_795_391_999_000, "message": "x"},
    "id-empty": {"id": "", "timestamp": 1_795_391_999_000, "message": "x"},
    "no-message": {"id": "1", "timestamp": 1_795_391_999_000},
    "not-an-object": ["1", 1_795_391_999_000, "x"],
    "lone-surrogate-timestamp": {"id": "1", "timestamp": "\ud800", "message": "x"},
}


@pytest.mark.parametrize("with_filters", [False, True], ids=["plain", "filters-set"])
@pytest.mark.parametrize("bad", list(BAD_EVENTS.values()), ids=list(BAD_EVENTS))
def test_an_event_that_is_not_a_cloudwatch_log_event_is_dead_lettered_and_its_neighbours_indexed(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch, bad, with_filters
) -> None:
    if with_filters:
        monkeypatch.setenv("EXCLUDE_PATTERN", "healthcheck")
        handler.reset_runtime()
    result = handler.lambda_handler(event_with(one_event("fine", "0"), bad, one_event("also", "2")), LocalContext())
    assert (result["status"], result["events"], result["indexed"], result["dead_lettered"]) == ("partial", 3, 2, 1)
    assert sorted(doc_id for index in forwarder_env.indices.values() for doc_id in index) == ["0", "2"]
    (entry,) = dead_letter.entries()
    assert (entry["kind"], entry["error_type"], entry["event"]) == ("event", "NotAwslogsPayloadError", bad)
    assert entry["reason"].startswith("logEvents[1] is not a CloudWatch log event")
    assert (entry["log_group"], entry["log_stream"], entry["owner"]) == (GROUP, "s-1", "123456789012")
    assert entry["key"].startswith("dead-letter/events/")


def test_a_rejected_event_without_a_dead_letter_fails_the_invocation_so_that_lambda_retries(
    forwarder_env: StandIn,
) -> None:
    with pytest.raises(NotDeliveredError, match=r"1 of 2 documents .*NotAwslogsPayloadError: logEvents\[1\]"):
        handler.lambda_handler(event_with(one_event("fine", "0"), BAD_EVENTS["id-null"]), LocalContext())
    assert [doc_id for index in forwarder_env.indices.values() for doc_id in index] == ["0"], "indexed all the same"


def test_undecodable_data_holding_a_lone_surrogate_is_kept_as_it_came(dead_letter: DeadLetterBucket) -> None:
    result = handler.lambda_handler({"awslogs": {"data": "abc\ud800"}}, LocalContext())
    assert (result["status"], result["error_type"]) == ("dead_lettered", "NotBase64Error")
    (entry,) = dead_letter.entries()
    assert (entry["kind"], entry["data"]) == ("payload", "abc\ud800")


@pytest.fixture(params=["body", "headers"])
def trickling_peer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Answers 200, its headers or its 1,000-byte body a byte every 0.2 s: each read is quick, the whole is not."""
    import socket
    import threading

    slow_part = request.param
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(30)
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                client, _ = server.accept()
                with client:
                    client.settimeout(5)
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += client.recv(65536)
                    head, _, body = request.partition(b"\r\n\r\n")
                    length = int(
                        next(
                            line.split(b":")[1]
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length")
                        )
                    )
                    while len(body) < length:
                        body += client.recv(65536)
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
                    if slow_part == "headers":  # a header line of 1,000 bytes, in no hurry
                        head += b"X-Slow: "
                        trickled = b"x" * 1000 + b"\r\n\r\n" + b" " * 1000
                    else:
                        head += b"\r\n"
                        trickled = b" " * 1000
                    client.sendall(head)
                    for byte in trickled:
                        if stop.is_set():
                            return
                        client.sendall(bytes([byte]))
                        time.sleep(0.2)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_an_answer_that_trickles_in_is_given_up_at_the_deadline(
    forwarder_env: StandIn, trickling_peer: str, monkeypatch
) -> None:
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", trickling_peer)
    monkeypatch.setenv("RETRY_MAX_SECONDS", "2")
    monkeypatch.setenv("OPENSEARCH_READ_TIMEOUT", "1")  # each read is well within this
    handler.reset_runtime()
    started = time.monotonic()
    with pytest.raises(NotDeliveredError, match=r"no whole answer from .* within \d\.\d s: cut off"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert time.monotonic() - started < 4, "the whole answer, headers too, is bounded by the deadline, not each read"


def test_a_cut_off_is_named_so_even_when_the_reader_wakes_before_the_watcher_is_done(
    forwarder_env: StandIn, monkeypatch
) -> None:
    import socket

    shutdown = socket.socket.shutdown

    def shutdown_then_stall(sock: socket.socket, how: int) -> None:
        shutdown(sock, how)
        time.sleep(0.3)  # the reader sees its read end while the watcher is still here

    monkeypatch.setattr(socket.socket, "shutdown", shutdown_then_stall)
    monkeypatch.setenv("RETRY_MAX_SECONDS", "1")
    handler.reset_runtime()
    forwarder_env.request_fault = lambda path: Fault(delay=5)
    with pytest.raises(NotDeliveredError, match=r"no whole answer from .* within \d\.\d s: cut off"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext(timeout_ms=3000))


def test_a_dead_letter_s3_that_never_answers_is_given_up_in_the_time_left(silent_endpoint: str) -> None:
    """botocore bounds each attempt, not the whole; the store bounds the whole."""
    from forwarder.delivery.deadletter import DeadLetterStore
    from forwarder.errors import DeadLetterError

    retries = {"mode": "standard", "max_attempts": 5}
    s3 = client_for("s3", silent_endpoint, retries=retries, connect_timeout=5, read_timeout=20)
    store = DeadLetterStore("forwarder-dead-letter", "dead-letter/", "us-east-1", client=s3)
    document = Document("mydata-x-2026.11.22", "1", b'{"a":1}')
    item = send.Undelivered(document, 403, "cluster_block_exception", "r", 1)
    started = time.monotonic()
    with pytest.raises(DeadLetterError, match=r"no answer within 1\.5 s"):
        store.put_documents([item], "/aws/x", "s", time_left=1.5)
    assert time.monotonic() - started < 3


def test_bad_input_is_not_held_past_the_deadline_by_a_dead_letter_that_never_answers(
    forwarder_env: StandIn, silent_endpoint: str, monkeypatch
) -> None:
    from forwarder.errors import PayloadError

    monkeypatch.setenv("DEAD_LETTER_BUCKET", "forwarder-dead-letter")
    monkeypatch.setenv("RETRY_SAFETY_MARGIN_SECONDS", "1")
    handler.reset_runtime()
    store = handler.runtime().dead_letter
    assert store is not None
    store._s3 = client_for("s3", silent_endpoint, connect_timeout=5, read_timeout=20)  # what botocore allows: minutes
    started = time.monotonic()
    with pytest.raises(PayloadError, match="base64"):  # not kept: raised, so that Lambda retries the event
        handler.lambda_handler({"awslogs": {"data": "not base64 at all!"}}, LocalContext(timeout_ms=3_000))
    assert time.monotonic() - started < 4, "the write is bounded by the invocation's time left"


def test_the_dead_letter_gets_what_was_kept_back_never_more_than_the_invocation_has() -> None:
    """8 s left: retries stop 2 s before the end (a quarter), and the dead letter may use those 2 s, not 5."""

    class EightSecondsLeft:
        def get_remaining_time_in_millis(self) -> int:
            return 8_000

    settings = Settings.from_env({"OPENSEARCH_ENDPOINT": "http://127.0.0.1:1", "AWS_REGION": "x"})
    deadline = Deadline.for_invocation(EightSecondsLeft(), settings)
    assert deadline.remaining() == pytest.approx(6, abs=0.05)
    assert deadline.dead_letter_time() == pytest.approx(8 - budget.FINISH_SECONDS, abs=0.05)
    assert Deadline(1.0, dead_letter_after=2.0, clock=lambda: 0.0).dead_letter_time() == 3.0
    no_lambda = Deadline.for_invocation(object(), settings)  # a local run: the whole margin
    assert no_lambda.dead_letter_time() - no_lambda.remaining() == pytest.approx(5, abs=0.05)


@pytest.mark.parametrize("cause", ["refused-document", "bad-input"])
def test_an_s3_that_never_answers_never_holds_the_invocation_past_its_timeout(
    forwarder_env: StandIn, silent_endpoint: str, monkeypatch, caplog, cause
) -> None:
    """The default margin (5 s) is more than the 4 s the invocation has: the dead letter gets what is left."""
    from forwarder.errors import ForwarderError

    monkeypatch.setenv("DEAD_LETTER_BUCKET", "forwarder-dead-letter")
    handler.reset_runtime()
    store = handler.runtime().dead_letter
    assert store is not None
    store._s3 = client_for("s3", silent_endpoint, connect_timeout=5, read_timeout=20)
    forwarder_env.item_fault = lambda index, doc_id, source: (403, "cluster_block_exception", "read-only")
    event = event_with(one_event("x", "1")) if cause == "refused-document" else {"awslogs": {"data": "not base64!"}}
    context = LocalContext(timeout_ms=4_000)
    with pytest.raises(ForwarderError):  # nothing kept: raised, so that Lambda retries the event
        handler.lambda_handler(event, context)
    assert context.get_remaining_time_in_millis() > 0, "ended before Lambda's timeout"
    said = [record.getMessage() for record in caplog.records]
    assert ("bulk report" if cause == "refused-document" else "dead letter not written") in said


def test_over_tls_a_whole_answer_is_read_and_a_trickling_one_cut_off(tmp_path, monkeypatch) -> None:
    """Lambda always speaks TLS: the cut-off shuts the socket under TLS, and the pool still reuses it."""
    import socket
    import ssl
    import threading

    from forwarder.delivery.sink import OpenSearchSink
    from forwarder.errors import TransportError
    from forwarder.settings import Settings

    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # trusted here, for this test
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []
    requests = itertools.count()
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    def serve() -> None:
        while True:  # the third request is answered a byte every 0.2 s, the others at once
            try:
                raw, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            connections.append(1)
            with contextlib.suppress(OSError), context.wrap_socket(raw, server_side=True) as peer:
                peer.settimeout(5)
                while peer.recv(65536):
                    if next(requests) != 2:
                        peer.sendall(answer)
                        continue
                    for byte in answer:
                        peer.sendall(bytes([byte]))
                        time.sleep(0.2)

    threading.Thread(target=serve, daemon=True).start()
    try:
        settings = Settings.from_env(
            {"OPENSEARCH_ENDPOINT": f"https://localhost:{listener.getsockname()[1]}", "AWS_REGION": "us-east-1"}
        )
        sink = OpenSearchSink(settings)
        assert [sink.request("GET", "/", time_left=2).body for _ in range(2)] == [b"{}", b"{}"]
        assert len(connections) == 1, "the TLS connection is kept and reused"
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"within 1\.0 s: cut off") as cut:
            sink.request("GET", "/", time_left=1)
        assert cut.value.maybe_processed and time.monotonic() - started < 1.5
        assert sink.request("GET", "/", time_left=2).body == b"{}" and len(connections) == 2, "a new connection"
    finally:
        listener.close()


def test_a_document_refused_after_an_unanswered_attempt_is_dead_lettered_saying_it_may_be_indexed(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    """Indexed, its answer lost, then refused for good: the dead letter must not claim it is not indexed."""
    from forwarder.delivery.send import MAYBE_INDEXED

    faults = iter([Fault(drop=True, serve_first=True), Fault(status=403)])
    forwarder_env.request_fault = lambda path: next(faults, None)
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert (result["dead_lettered"], forwarder_env.count()) == (1, 1), "indexed by the first attempt"
    (entry,) = dead_letter.entries()
    assert entry["reason"].startswith(MAYBE_INDEXED) and "HTTP 403" in entry["reason"]


@pytest.mark.parametrize(("refused", "status"), [((), "ok"), (("1",), "partial"), (("1", "2"), "dead_lettered")])
def test_the_status_says_where_the_documents_went(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, refused: tuple[str, ...], status: str
) -> None:
    def refuse(index: str, doc_id: str | None, source: bytes) -> tuple[int, str, str] | None:
        return (
            (403, "security_exception", "no permissions for [indices:data/write/bulk[s]]")
            if doc_id in refused
            else None
        )

    forwarder_env.item_fault = refuse
    result = handler.lambda_handler(event_with(one_event("a", "1"), one_event("b", "2")), LocalContext())
    assert (result["status"], result["dead_lettered"], result["indexed"]) == (status, len(refused), 2 - len(refused))
    assert adds_up(result)


def test_what_is_neither_indexed_nor_dead_lettered_is_reported_failed_by_the_cli(
    forwarder_env: StandIn, tmp_path, capfd
) -> None:
    from forwarder.tools import cli

    forwarder_env.item_fault = lambda index, doc_id, source: (403, "security_exception", "no permissions")
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event_with(one_event("a", "1"), one_event("b", "2"))))
    assert cli.main(["invoke", str(path)]) == 1  # no DEAD_LETTER_BUCKET: nowhere to keep them
    captured = capfd.readouterr()
    (report,) = [json.loads(line) for line in captured.out.splitlines()]
    assert (report["status"], report["failed"], report["indexed"], report["events"]) == ("failed", 2, 0, 2)
    assert "NotDeliveredError: 2 of 2 documents are neither indexed nor dead-lettered" in captured.err


def test_a_refused_request_names_the_role_to_map_or_the_master_user(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure users of subscription forwarders hit most: a role not mapped under fine-grained access control."""
    monkeypatch.setenv("FUNCTION_ROLE_ARN", "arn:aws:iam::123456789012:role/logs-forwarder")
    handler.reset_runtime()
    forwarder_env.queue_answer(403, {"error": {"type": "security_exception", "reason": "no permissions"}})
    result = handler.lambda_handler(payload_gen.event_for(payload_gen.clean_payload(seed=9, events=4)), LocalContext())
    assert (result["status"], result["indexed"], result["dead_lettered"]) == ("dead_lettered", 0, 4)
    (entry, *_) = dead_letter.entries()
    assert "fine-grained access control refused" in entry["reason"] and "may write mydata-*" in entry["reason"]
    assert (
        "arn:aws:iam::123456789012:role/logs-forwarder" in entry["reason"] and "MasterUserSecretArn" in entry["reason"]
    )
