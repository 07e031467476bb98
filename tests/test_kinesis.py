"""The Kinesis source: a stream's batch, each record one awslogs payload, with partial batch failures."""

from __future__ import annotations

import base64
import gzip
import json

from harness import payload_gen
from harness.standin import StandIn

from forwarder import handler
from forwarder.tools.local import LocalContext
from tests.events import event_with, one_event
from tests.helpers import DeadLetterBucket


def kinesis_record(data: str, sequence: str) -> dict:
    """As Lambda's event source mapping delivers a record a subscription filter put on the stream."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "a3c1f2",
            "sequenceNumber": sequence,
            "data": data,
            "approximateArrivalTimestamp": 1795391999.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/forwarder",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/logs",
    }


def batch(*records: dict) -> dict:
    return {"Records": list(records)}


def data_of(event: dict) -> str:
    return event["awslogs"]["data"]


def test_every_record_is_indexed_and_nothing_is_reported_failed(forwarder_env: StandIn) -> None:
    first = payload_gen.event_for(payload_gen.clean_payload(seed=31, events=40))
    second = payload_gen.event_for(payload_gen.clean_payload(seed=32, events=60))
    result = handler.lambda_handler(
        batch(kinesis_record(data_of(first), "1"), kinesis_record(data_of(second), "2")), LocalContext()
    )
    assert result == {"batchItemFailures": []}
    assert forwarder_env.count() == 100


def test_a_record_that_cannot_be_delivered_is_reported_so_lambda_retries_from_it(forwarder_env: StandIn) -> None:
    blocked = (403, "cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)];")
    forwarder_env.item_fault = lambda index, doc_id, source: blocked if doc_id == "stuck" else None
    good = event_with(one_event("fine", "ok-1"))
    stuck = event_with(one_event("refused, and no dead-letter bucket", "stuck"))
    later = event_with(one_event("after", "ok-2"))
    event = batch(
        kinesis_record(data_of(good), "100"),
        kinesis_record(data_of(stuck), "200"),
        kinesis_record(data_of(later), "300"),
    )
    result = handler.lambda_handler(event, LocalContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert set(forwarder_env.documents("mydata-payments-payments-api-2026.11.22")) == {"ok-1", "ok-2"}


def test_when_time_runs_out_the_rest_of_the_batch_is_reported_failed_too(forwarder_env: StandIn) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (
        (503, "unavailable_shards_exception", "primary shard is not active") if doc_id == "stuck" else None
    )
    records = [
        event_with(one_event("fine", "ok-1")),
        event_with(one_event("w", "stuck")),
        event_with(one_event("a", "ok-2")),
    ]
    event = batch(*(kinesis_record(data_of(record), str(n)) for n, record in enumerate(records, 1)))
    result = handler.lambda_handler(event, LocalContext(timeout_ms=800))
    # Lambda retries from record 2; record 3 was never sent, so nothing is indexed twice.
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert set(forwarder_env.documents("mydata-payments-payments-api-2026.11.22")) == {"ok-1"}


def test_a_bad_record_is_dead_lettered_and_never_blocks_the_shard(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch
) -> None:
    # The batch shares one deadline; the first dead-letter write makes botocore's S3 client (1-2 s
    # on a busy machine), which the tests' 2 s RETRY_MAX_SECONDS would leave no time after.
    monkeypatch.setenv("RETRY_MAX_SECONDS", "30")
    handler.reset_runtime()
    not_gzip = base64.b64encode(b"not a gzip payload").decode()
    good = event_with(one_event("fine", "ok-1"))
    result = handler.lambda_handler(
        batch(kinesis_record(not_gzip, "1"), kinesis_record(data_of(good), "2")), LocalContext()
    )
    assert result == {"batchItemFailures": []}
    (entry,) = dead_letter.entries()
    assert (entry["kind"], entry["error_type"], entry["data"]) == ("payload", "NotGzipError", not_gzip)
    assert forwarder_env.count() == 1


def test_without_a_dead_letter_a_bad_record_is_reported_failed(forwarder_env: StandIn) -> None:
    not_gzip = base64.b64encode(gzip.compress(b"{not json")).decode()
    good = event_with(one_event("fine", "ok-1"))
    result = handler.lambda_handler(
        batch(kinesis_record(data_of(good), "1"), kinesis_record(not_gzip, "2")), LocalContext()
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}


def test_a_direct_subscription_event_is_not_taken_for_a_batch(forwarder_env: StandIn) -> None:
    result = handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())
    assert result["status"] == "ok" and "batchItemFailures" not in json.dumps(result)


def test_entries_that_are_not_objects_are_dead_lettered_and_block_nothing(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch
) -> None:
    monkeypatch.setenv("RETRY_MAX_SECONDS", "30")  # as above: the first dead-letter write makes the S3 client
    handler.reset_runtime()
    good = payload_gen.event_for(payload_gen.clean_payload(seed=33, events=10))
    result = handler.lambda_handler(
        batch(None, kinesis_record(data_of(good), "1"), "junk", 7),
        LocalContext(),  # type: ignore[arg-type]
    )
    assert result == {"batchItemFailures": []}, "the shard moves on"
    assert forwarder_env.count() == 10
    kept = sorted(entry["data"] for entry in dead_letter.entries())
    assert kept == sorted(["null", '"junk"', "7"]) and all(
        entry["error_type"] == "MissingAwslogsDataError" for entry in dead_letter.entries()
    )
