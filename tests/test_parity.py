"""The port produces the reference's documents (../shared/reference/README.md, "parity")."""

from __future__ import annotations

import json
from pathlib import Path

from harness import payload_gen
from harness.reference import assert_same_documents, reference_bodies, reference_files

from forwarder.delivery import bulk
from forwarder.documents import transform
from forwarder.sources import decode

MAX = 64 * 1024 * 1024
# 12 payloads x 100 events of mixed shapes, shared by the parity run and its coverage checks.
GENERATED = payload_gen.payloads(seed=20261122, count=12, events=100)


def ours(event: dict[str, dict[str, str]]) -> bytes:
    payload = decode.decode_event(event, MAX)
    return bulk.ndjson(transform.to_documents(payload, "mydata"))


def test_generated_payloads_match_the_reference_document_by_document() -> None:
    lines = [json.dumps(doc, ensure_ascii=False) for doc in GENERATED]
    answers = reference_bodies(lines)
    compared = 0
    for n, (line, answer) in enumerate(zip(lines, answers, strict=True)):
        assert "error" not in answer, f"the reference threw on payload {n}: {answer}"
        compared += assert_same_documents(ours(payload_gen.encode(line.encode())), answer["body"], f"payload {n}")
    assert compared == 1200


def test_the_benchmark_mix_matches_the_reference() -> None:
    """The realistic shapes `make bench` times (access-log extracted fields among them)."""
    docs = payload_gen.payloads(seed=2026, count=3, events=300, shapes=payload_gen.REALISTIC_SHAPES)
    lines = [json.dumps(doc, ensure_ascii=False) for doc in docs]
    compared = 0
    for n, (line, answer) in enumerate(zip(lines, reference_bodies(lines), strict=True)):
        compared += assert_same_documents(ours(payload_gen.encode(line.encode())), answer["body"], f"bench {n}")
    assert compared == 900


def test_every_message_shape_is_covered_by_the_parity_run() -> None:
    events = [event for doc in GENERATED for event in doc["logEvents"]]
    messages = [event["message"] for event in events]
    assert any(m.startswith('{"log"') for m in messages), "Fluentd/Fluent Bit records"
    assert any(m.startswith("START RequestId") for m in messages), "Lambda START lines"
    assert any(m.startswith("REPORT RequestId") for m in messages), "Lambda REPORT lines"
    assert any('"GET /api/' in m for m in messages), "access-log lines"
    assert any("\n\tat com.example" in m for m in messages), "multi-line stack traces"
    assert any("extractedFields" in event for event in events), "extractedFields"
    assert any("{" not in m for m in messages), "plain text"
    days = {event["timestamp"] // payload_gen.DAY_MS for event in events}
    assert len(days) >= 4, "events on several UTC days"


def test_sample_events_match_the_reference() -> None:
    from harness.reference import REPO

    files = sorted((REPO / "events").glob("*.json"))
    for answer in reference_files(files):
        event = json.loads(Path(answer["file"]).read_text(encoding="utf-8"))
        if answer["body"] is None:
            assert decode.decode_event(event, MAX).is_control
            assert ours(event) == b""
            continue
        if "/aws/lambda/" in answer["body"]:
            continue  # a deliberate deviation: tested in test_transform (no "undefined")
        assert_same_documents(ours(event), answer["body"], answer["file"])


def test_invalid_utf8_becomes_u_fffd_like_node(tmp_path) -> None:
    doc = payload_gen.payloads(seed=7, count=1, events=3)[0]
    raw = json.dumps(doc, ensure_ascii=False).encode()
    raw = raw.replace(b'"message": "', b'"message": "bad \xff\xfe bytes \xc3( \xe2\x82 ', 1)
    event = payload_gen.encode(raw)
    path = tmp_path / "bad-utf8.json"
    path.write_text(json.dumps(event))
    (answer,) = reference_files([path])
    assert_same_documents(ours(event), answer["body"], "invalid UTF-8")
    first = json.loads(ours(event).splitlines()[1])
    assert "\ufffd" in first["@message"], "the line is kept with U+FFFD, not dropped"


def test_payload_with_lone_surrogate_escapes_matches_the_reference() -> None:
    doc = payload_gen.payloads(seed=8, count=1, events=2)[0]
    doc["logEvents"][0]["message"] = 'lone \ud83d half {"k":"\ud800"}'
    line = json.dumps(doc)  # ensure_ascii: the surrogates travel as \\u escapes
    (answer,) = reference_bodies([line])
    assert_same_documents(ours(payload_gen.encode(line.encode())), answer["body"], "lone surrogates")


def test_generated_event_ids_are_unique_like_cloudwatch_ids() -> None:
    ids = [event["id"] for doc in GENERATED for event in doc["logEvents"]]
    assert len(set(ids)) == len(ids) and {len(i) for i in ids} == {56}
