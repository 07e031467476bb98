"""`forwarder replay`: dead-lettered documents from S3 and failed events from SQS, re-sent."""

from __future__ import annotations

import gzip
import json
import time

import boto3
import pytest
from harness import payload_gen
from harness.standin import StandIn

from forwarder import handler
from forwarder.documents import transform
from forwarder.errors import ForwarderError
from forwarder.sources.decode import decode_event
from forwarder.tools import cli, console, replay
from forwarder.tools.local import LocalContext
from forwarder.tools.replay import parse_target
from tests.events import event_with, one_event
from tests.helpers import DeadLetterBucket

BLOCKED = (403, "cluster_block_exception", "index [x] blocked by: [FORBIDDEN/8/index write (api)];")


def replay_output(capsys, source: str) -> tuple[int, dict, str]:
    status = cli.main(["replay", source])
    captured = capsys.readouterr()
    return status, json.loads(captured.out.splitlines()[-1]), captured.err


def test_replay_from_s3_indexes_the_documents_as_made_and_removes_them(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    doc = payload_gen.clean_payload(seed=21, events=120)
    event = payload_gen.event_for(doc)
    forwarder_env.item_fault = lambda index, doc_id, source: BLOCKED
    assert handler.lambda_handler(event, LocalContext())["dead_lettered"] == 120
    assert forwarder_env.count() == 0 and dead_letter.object_keys()
    capsys.readouterr()

    forwarder_env.item_fault = None  # the index is writable again
    status, report, err = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/")
    assert status == 0
    assert report["entries"] == 120 and report["indexed"] == 120 and report["still_failing"] == 0
    assert dead_letter.object_keys() == []
    assert "objects: 100%" in err, "a progress bar on stderr"
    made = transform.to_documents(decode_event(event, 10**8), "mydata")
    for document in made:
        assert forwarder_env.documents(document.index_name)[document.id] == json.loads(document.source)


def test_what_still_fails_stays_in_its_object_with_the_attempts_added_up(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: BLOCKED
    handler.lambda_handler(event_with(one_event("a", "a"), one_event("b", "b")), LocalContext())
    (key,) = dead_letter.object_keys()
    forwarder_env.item_fault = lambda index, doc_id, source: BLOCKED if doc_id == "b" else None
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/")
    assert status == 1 and (report["indexed"], report["still_failing"], report["removed"]) == (1, 1, 0)
    (entry,) = dead_letter.entries()
    assert entry["key"] == key and entry["id"] == "b" and entry["attempts"] == 2
    assert entry["source"]["@message"] == "b"
    assert set(forwarder_env.documents("mydata-payments-payments-api-2026.11.22")) == {"a"}


def test_a_payload_dead_lettered_for_its_size_is_replayed_once_the_limit_is_raised(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MAX_PAYLOAD_BYTES", "1000")
    handler.reset_runtime()
    event = payload_gen.event_for(payload_gen.clean_payload(seed=22, events=40))
    assert handler.lambda_handler(event, LocalContext())["error_type"] == "PayloadTooLargeError"
    monkeypatch.delenv("MAX_PAYLOAD_BYTES")
    handler.reset_runtime()
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/payloads/")
    assert status == 0 and report["removed"] == 1
    assert forwarder_env.count() == 40 and dead_letter.object_keys() == []


def test_a_rejected_event_stays_until_it_is_mended_then_replay_indexes_it(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    bad = {"id": None, "timestamp": 1_795_391_999_000, "message": "m"}
    assert handler.lambda_handler(event_with(one_event("a", "a"), bad), LocalContext())["status"] == "partial"
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/events/")
    assert status == 1 and (report["entries"], report["still_failing"]) == (1, 1)
    (entry,) = dead_letter.entries()
    assert entry["reason"].startswith("the event is not a CloudWatch log event: id is None")
    mended = {key: value for key, value in entry.items() if key != "key"} | {"event": {**bad, "id": "mended"}}
    dead_letter.s3.put_object(
        Bucket=dead_letter.name, Key=entry["key"], Body=gzip.compress(json.dumps(mended).encode() + b"\n")
    )
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/events/")
    assert status == 0 and (report["indexed"], report["removed"]) == (1, 1)
    assert set(forwarder_env.documents("mydata-payments-payments-api-2026.11.22")) == {"a", "mended"}
    assert dead_letter.object_keys() == []


def test_replay_from_the_on_failure_queue_deletes_only_what_was_delivered(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    sqs = boto3.client("sqs", region_name=forwarder_env.region)
    queue = sqs.create_queue(QueueName="forwarder-on-failure")["QueueUrl"]
    good = event_with(one_event("a", "a"), one_event("b", "b"))
    later = event_with(one_event("c", "c"), group="/aws/lambda/still-down")
    for event in (good, later):
        record = {  # what Lambda's on-failure destination sends for an asynchronous invocation
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responsePayload": {"errorType": "NotDeliveredError"},
        }
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event_with(one_event("d", "d"))))  # a bare DLQ event
    forwarder_env.item_fault = lambda index, doc_id, source: (
        (503, "unavailable_shards_exception", "primary shard is not active")
        if index.startswith("mydata-lambda")
        else None
    )
    status, report, err = replay_output(capsys, "sqs://" + queue.removeprefix("https://"))
    assert status == 1 and (report["entries"], report["removed"], report["still_failing"]) == (3, 2, 1)
    assert "messages" in err
    assert forwarder_env.count() == 3
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


@pytest.mark.parametrize("target", ["bucket/prefix", "s3://", "sqs://", "http://queue"])
def test_a_replay_source_is_s3_or_sqs(target: str) -> None:
    with pytest.raises(ForwarderError, match="is not a replay source: give s3://BUCKET/PREFIX"):
        parse_target(target)


def test_replay_targets_are_parsed() -> None:
    assert parse_target("s3://b/dead-letter/2026/") == ("s3", "b", "dead-letter/2026/")
    assert parse_target("sqs://sqs.us-east-1.amazonaws.com/1/q") == (
        "sqs",
        "https://sqs.us-east-1.amazonaws.com/1/q",
        "",
    )


def test_a_replayed_payload_is_redacted_as_the_lambda_would(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MAX_PAYLOAD_BYTES", "100")
    monkeypatch.setenv("REDACT_EMAILS", "true")
    handler.reset_runtime()
    event = event_with(one_event("signup ana@example.com " + "x" * 200, "a"))
    assert handler.lambda_handler(event, LocalContext())["status"] == "dead_lettered"
    monkeypatch.delenv("MAX_PAYLOAD_BYTES")
    handler.reset_runtime()
    status, _, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/payloads/")
    assert status == 0
    (doc,) = forwarder_env.documents("mydata-payments-payments-api-2026.11.22").values()
    assert doc["@message"].startswith("signup [EMAIL] ")


@pytest.mark.parametrize(
    ("folder", "line", "field", "expected"),
    [
        (
            "2026/11/22/mydata-x-2026.11.22/",
            b'{"kind": "document", "id": "1"}',
            "reason",
            "not a dead-letter document entry: index, id and source expected",
        ),
        ("payloads/2026/11/22/", b'{"kind": "payload"}', "error_type", "MissingAwslogsDataError"),
    ],
    ids=["document-without-index-or-source", "payload-without-data"],
)
def test_an_entry_replay_cannot_use_is_kept_with_the_reason(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys, folder: str, line: bytes, field: str, expected: str
) -> None:
    import gzip as gz

    key = f"dead-letter/{folder}handmade.ndjson.gz"
    dead_letter.s3.put_object(Bucket=dead_letter.name, Key=key, Body=gz.compress(line + b"\n"))
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/")
    assert status == 1 and report["still_failing"] == 1
    (entry,) = dead_letter.entries()
    assert entry[field] == expected


def put_object(dead_letter: DeadLetterBucket, name: str, body: bytes) -> str:
    key = f"dead-letter/2026/11/22/mydata-x-2026.11.22/{name}.ndjson.gz"
    dead_letter.s3.put_object(Bucket=dead_letter.name, Key=key, Body=body)
    return key


def doc_entry(doc_id: str, message: str) -> bytes:
    source = {"@id": doc_id, "@message": message, "@timestamp": "2026-11-22T00:00:00.000Z"}
    entry = {"kind": "document", "index": "mydata-x-2026.11.22", "id": doc_id, "source": source, "reason": "r"}
    return json.dumps(entry).encode()


def test_an_unreadable_object_is_kept_as_it_is_and_the_others_are_replayed(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    import gzip as gz

    bad_gzip = put_object(dead_letter, "not-gzip", b"this is not gzip")
    cut_short = put_object(dead_letter, "cut-short", gz.compress(doc_entry("a", "x") + b"\n")[:-12])
    put_object(dead_letter, "fine", gz.compress(doc_entry("b", "y") + b"\n"))
    status, report, err = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/")
    assert status == 1 and (report["unreadable"], report["indexed"], report["removed"]) == (2, 1, 1)
    assert set(dead_letter.object_keys()) == {bad_gzip, cut_short}, "kept as they were"
    assert dead_letter.s3.get_object(Bucket=dead_letter.name, Key=bad_gzip)["Body"].read() == b"this is not gzip"
    assert "dead-letter object not readable" in err
    assert set(forwarder_env.documents("mydata-x-2026.11.22")) == {"b"}
    named = {kept["where"]: kept["reason"] for kept in report["kept"]}
    assert set(named) == {f"s3://{dead_letter.name}/{key}" for key in (bad_gzip, cut_short)}, "on stdout, by key"
    assert all(reason.startswith("not readable, kept as it is: cannot read s3://") for reason in named.values())


def test_lines_that_cannot_be_replayed_are_kept_and_the_rest_of_their_object_is(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys
) -> None:
    import gzip as gz

    lines = [doc_entry("a", "x"), doc_entry("b", "y")[:40], b"[1, 2]", doc_entry("c", "one"), doc_entry("c", "two")]
    key = put_object(dead_letter, "mixed", gz.compress(b"\n".join(lines) + b"\n"))
    status, report, _ = replay_output(capsys, f"s3://{dead_letter.name}/dead-letter/")
    assert status == 1 and (report["entries"], report["indexed"], report["still_failing"]) == (5, 2, 3)
    stored = forwarder_env.documents("mydata-x-2026.11.22")
    assert set(stored) == {"a", "c"} and stored["c"]["@message"] == "one", "the first of two sources, not the last"
    kept = dead_letter.entries()
    assert all(entry["key"] == key for entry in kept)
    reasons = sorted((entry["reason"].split(":")[0], json.dumps(entry.get("line", entry.get("id")))) for entry in kept)
    assert reasons == [
        ("a line that is not an object", "[1, 2]"),
        ("another entry has the same index and id and another source", '"c"'),
        ("not JSON", json.dumps(doc_entry("b", "y")[:40].decode())),
    ]
    where = f"s3://{dead_letter.name}/{key}"
    assert report["kept"] == [{"where": where, "entries": 3, "reason": kept[0]["reason"]}]
    typed = replay.ReplayReport(**{key: value for key, value in report.items() if key != "source"})
    assert console.replay_lines("s3://x/", typed) == [
        "s3://x/: 5 entries read: 2 delivered, 3 still failing",
        f"  kept: {where} (3 entries): {kept[0]['reason']}",
    ]


def test_one_poison_message_does_not_stop_the_queue_replay(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, capsys, monkeypatch
) -> None:
    from forwarder import pipeline

    sqs = boto3.client("sqs", region_name=forwarder_env.region)
    queue = sqs.create_queue(QueueName="forwarder-on-failure")["QueueUrl"]
    for doc_id in ("a", "poison", "b"):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event_with(one_event(doc_id, doc_id))))
    real = pipeline.forward_event

    def forward_event(event, run, deadline):  # what any unforeseen failure of one message looks like
        if "poison" in json.dumps(decode_event(event, 10**6).log_events):
            raise RuntimeError("unforeseen")
        return real(event, run, deadline)

    monkeypatch.setattr(pipeline, "forward_event", forward_event)
    status, report, err = replay_output(capsys, "sqs://" + queue.removeprefix("https://"))
    assert status == 1 and (report["entries"], report["removed"], report["still_failing"]) == (3, 2, 1)
    assert "message not replayed: kept in the queue: RuntimeError: unforeseen" in err
    ((kept),) = report["kept"]
    assert kept["where"].startswith("message ") and kept["reason"] == "RuntimeError: unforeseen"


@pytest.mark.parametrize(
    ("source", "endpoint_variable", "expected"),
    [
        ("sqs://sqs.us-east-1.amazonaws.com/1/q", "AWS_ENDPOINT_URL_SQS", "QueueError: cannot receive from"),
        ("s3://forwarder-dead-letter/dead-letter/", "AWS_ENDPOINT_URL_S3", "DeadLetterError: cannot list"),
    ],
)
def test_a_replay_source_that_never_answers_ends_in_one_line_within_its_bound(
    forwarder_env: StandIn, silent_endpoint: str, capsys, monkeypatch, source, endpoint_variable, expected
) -> None:
    """botocore would wait minutes (its timeouts are per attempt); each call is bounded as a whole."""
    from forwarder.delivery import deadletter
    from forwarder.tools import replay

    monkeypatch.setenv(endpoint_variable, silent_endpoint)
    monkeypatch.setattr(replay, "SQS_CALL_SECONDS", 1.5)
    monkeypatch.setattr(deadletter, "CALL_SECONDS", 1.5)
    started = time.monotonic()
    status = cli.main(["replay", source])
    elapsed = time.monotonic() - started
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1 and last.startswith(f"forwarder: {expected}") and "no answer within 1.5 s" in last, last
    assert elapsed < 4, elapsed
