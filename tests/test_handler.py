"""The real handler against the local stand-in: signed `_bulk`, per-item report, failures."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import ssl
import threading

import pytest
from harness import payload_gen
from harness.standin import StandIn

from forwarder import handler
from forwarder.errors import DeliveryError, NotBase64Error, NotDeliveredError, NotGzipError
from forwarder.tools.local import LocalContext
from tests.events import GROUP, emf_lines, event_with, log_lines, one_event, single
from tests.helpers import self_signed_certificate


def test_every_event_is_indexed_by_its_id_with_a_signed_request(forwarder_env: StandIn) -> None:
    doc = payload_gen.clean_payload(seed=11, events=300)
    result = handler.lambda_handler(payload_gen.event_for(doc), LocalContext())
    assert result["status"] == "ok"
    assert (result["events"], result["indexed"], result["failed"], result["requests"]) == (300, 300, 0, 1)
    stored = {doc_id for index in forwarder_env.indices.values() for doc_id in index}
    assert stored == {event["id"] for event in doc["logEvents"]}
    assert forwarder_env.count() == 300
    (request,) = forwarder_env.seen
    assert request.route == "/_bulk" and request.status == 200
    assert "x-amz-security-token" in request.headers["authorization"]
    assert "x-amz-content-sha256" in request.headers
    assert "/us-east-1/es/aws4_request" in request.headers["authorization"]


def test_bodies_are_gzip_compressed_by_default_and_plain_with_bulk_gzip_false(
    forwarder_env: StandIn, monkeypatch
) -> None:
    event = payload_gen.event_for(payload_gen.clean_payload(seed=14, events=200))
    handler.lambda_handler(event, LocalContext())
    monkeypatch.setenv("BULK_GZIP", "false")
    handler.reset_runtime()
    handler.lambda_handler(event, LocalContext())
    compressed, plain = forwarder_env.seen
    assert (compressed.content_encoding, plain.content_encoding) == ("gzip", None)
    assert (compressed.status, plain.status) == (200, 200), "both signed correctly"
    assert compressed.wire_bytes * 4 < plain.wire_bytes
    assert forwarder_env.count() == 200


def test_sending_the_same_payload_again_duplicates_nothing(forwarder_env: StandIn) -> None:
    event = payload_gen.event_for(payload_gen.clean_payload(seed=12, events=50))
    handler.lambda_handler(event, LocalContext())
    handler.lambda_handler(event, LocalContext())
    assert forwarder_env.count() == 50
    versions = {doc["_version"] for index in forwarder_env.indices.values() for doc in index.values()}
    assert versions == {2}, "the second send overwrote each document by _id"


def test_one_connection_is_reused_across_warm_invocations(forwarder_env: StandIn) -> None:
    for seed in (1, 2, 3):
        event = payload_gen.event_for(payload_gen.clean_payload(seed=seed, events=5))
        handler.lambda_handler(event, LocalContext())
    assert len({request.client_port for request in forwarder_env.seen}) == 1


def test_a_control_message_sends_nothing_and_succeeds(forwarder_env: StandIn, capfd) -> None:
    event = payload_gen.event_for(
        {
            "messageType": "CONTROL_MESSAGE",
            "owner": "CloudwatchLogs",
            "logGroup": "",
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": [],
        }
    )
    assert handler.lambda_handler(event, LocalContext()) == {"status": "control_message"}
    assert forwarder_env.seen == []
    lines = log_lines(capfd.readouterr().out)
    assert [line["message"] for line in lines] == ["control message: nothing to send"]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"awslogs": {"data": "%%%not base64%%%"}}, NotBase64Error),
        ({"awslogs": {"data": base64.b64encode(b"hello").decode()}}, NotGzipError),
    ],
)
def test_bad_input_is_one_structured_log_line_and_a_typed_error(forwarder_env: StandIn, capfd, event, error) -> None:
    with pytest.raises(error):
        handler.lambda_handler(event, LocalContext())
    (line,) = log_lines(capfd.readouterr().out)
    assert line["message"] == "bad input" and line["level"] == "ERROR"
    assert line["error"] == error.__name__
    assert line["input_chars"] == len(event["awslogs"]["data"])
    assert line["input_prefix"] == event["awslogs"]["data"][:64]
    assert "function_request_id" in line
    assert forwarder_env.seen == []


def test_wrong_credentials_are_refused_by_the_signature_check(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(NotDeliveredError, match=r"403.*signature we calculated does not match"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())


def test_a_missing_session_token_is_refused(forwarder_env: StandIn, monkeypatch) -> None:
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    with pytest.raises(NotDeliveredError, match=r"403.*security token"):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext())


def test_an_unreachable_endpoint_is_retried_until_the_deadline_then_fails_naming_it(
    forwarder_env: StandIn, capfd
) -> None:
    forwarder_env.stop()
    with pytest.raises(
        NotDeliveredError,
        match=r"retry time ran out; last: cannot connect to http://127\.0\.0\.1:\d+: \[Errno 111\] Connection refused",
    ):
        handler.lambda_handler(event_with(one_event("x", "1")), LocalContext(timeout_ms=500))
    report = next(line for line in log_lines(capfd.readouterr().out) if line["message"] == "bulk report")
    assert report["level"] == "ERROR"
    assert report["report"]["failed"] == 1 and report["report"]["requests"] > 1
    (item,) = report["undelivered"]
    assert item["id"] == "1" and item["status"] is None and item["attempts"] == report["report"]["requests"]


def test_serverless_is_signed_for_aoss_and_sends_no_document_id(monkeypatch) -> None:
    with StandIn(service="aoss") as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        handler.reset_runtime()
        try:
            result = handler.lambda_handler(event_with(one_event("x", "1"), one_event("y", "2")), LocalContext())
            assert (result["indexed"], result["failed"]) == (2, 0)
            (request,) = server.seen
            assert request.status == 200 and "/us-east-1/aoss/aws4_request" in request.headers["authorization"]
            assert "x-amz-content-sha256" in request.headers["authorization"]
            (docs,) = server.indices.values()
            assert all(doc_id.startswith("auto-") for doc_id in docs), "the collection chose the ids"
            assert sorted(doc["_source"]["@id"] for doc in docs.values()) == ["1", "2"], "the event id is kept"
        finally:
            handler.reset_runtime()


def test_tls_is_verified_so_an_untrusted_certificate_is_refused(tmp_path, monkeypatch) -> None:
    from forwarder.delivery.sink import OpenSearchSink
    from forwarder.settings import Settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with tls_server(tmp_path) as port:
        settings = Settings.from_env({"OPENSEARCH_ENDPOINT": f"https://localhost:{port}", "AWS_REGION": "us-east-1"})
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            OpenSearchSink(settings).bulk(b"{}\n")


@contextlib.contextmanager
def tls_server(tmp_path):
    """A loopback HTTPS server with a self-signed certificate that no CA vouches for."""
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.server_close()


def test_each_invocation_emits_its_metrics_as_one_emf_line(forwarder_env: StandIn, capfd) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (
        (429, "es_rejected_execution_exception", "busy") if doc_id == "b" and len(forwarder_env.seen) == 0 else None
    )
    event = event_with(one_event('{"n": 1}', "a"), one_event("plain", "b"), one_event('{"n": "x"}', "c"))
    handler.lambda_handler(event, LocalContext())
    (emf,) = emf_lines(capfd.readouterr().out)
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CwlOpenSearchForwarder"
    assert [sorted(names) for names in directive["Dimensions"]] == [["IndexPrefix", "service"]]
    assert (emf["service"], emf["IndexPrefix"]) == ("cwl-opensearch-forwarder", "mydata")
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units["PayloadBytes"] == "Bytes" and units["BulkLatency"] == "Milliseconds" and units["Indexed"] == "Count"
    names = ("DocumentsIn", "Indexed", "Fallback", "DeadLettered", "Failed", "Retried")
    counts = {name: single(emf[name]) for name in names}
    assert counts == {"DocumentsIn": 3, "Indexed": 2, "Fallback": 1, "DeadLettered": 0, "Failed": 0, "Retried": 1}
    # b (429) and the safe form of c go out together in the second request
    assert single(emf["BulkRequests"]) == 2 and len(emf["BulkLatency"]) == 2 and single(emf["PayloadBytes"]) > 200


def test_bad_input_is_counted(forwarder_env: StandIn, capfd) -> None:
    with pytest.raises(NotBase64Error):
        handler.lambda_handler({"awslogs": {"data": "%%%"}}, LocalContext())
    (emf,) = emf_lines(capfd.readouterr().out)
    assert single(emf["BadInput"]) == 1


def test_every_log_line_names_the_request_and_the_log_group(forwarder_env: StandIn, capfd) -> None:
    forwarder_env.item_fault = lambda index, doc_id, source: (
        (400, "mapper_parsing_exception", "failed to parse field [n]") if doc_id == "b" else None
    )
    context = LocalContext()
    with pytest.raises(NotDeliveredError):  # b: refused in both forms, and no dead-letter bucket
        handler.lambda_handler(event_with(one_event("x", "a"), one_event("y", "b")), context)
    lines = log_lines(capfd.readouterr().out)
    assert lines and all(line["function_request_id"] == context.aws_request_id for line in lines)
    assert all(line["log_group"] == GROUP and line["log_stream"] == "s-1" for line in lines)


def test_a_256_kib_line_is_indexed_whole(forwarder_env: StandIn) -> None:
    long_line = "x" * (256 * 1024 - 26) + " the end of a very long line"
    result = handler.lambda_handler(event_with(one_event(long_line, "long")), LocalContext())
    assert result["indexed"] == 1
    stored = forwarder_env.documents("mydata-payments-payments-api-2026.11.22")["long"]["@message"]
    assert stored == long_line


def test_a_log_group_holding_a_lone_surrogate_is_indexed_under_a_writable_name(forwarder_env: StandIn) -> None:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/odd\ud800name",  # written as the escape \ud800, which JSON allows
        "logStream": "s-1",
        "subscriptionFilters": ["f"],
        "logEvents": [one_event("x", "1")],
    }
    result = handler.lambda_handler(payload_gen.encode(json.dumps(payload).encode()), LocalContext())
    assert result["indexed"] == 1
    (index,) = forwarder_env.indices
    assert index == "mydata-lambda-odd_name-2026.11.22"


def test_an_invocation_of_hundreds_of_requests_still_writes_its_metrics_as_one_line(
    forwarder_env: StandIn, monkeypatch, capfd
) -> None:
    """Powertools flushes early on a metric's 100th value: the latencies stop at 99."""
    monkeypatch.setenv("BULK_MAX_DOCS", "1")
    handler.reset_runtime()
    doc = payload_gen.clean_payload(seed=3, events=120)
    assert handler.lambda_handler(payload_gen.event_for(doc), LocalContext())["requests"] == 120
    (emf,) = emf_lines(capfd.readouterr().out)
    assert single(emf["BulkRequests"]) == 120 and len(emf["BulkLatency"]) == 99 and single(emf["Indexed"]) == 120


@pytest.mark.parametrize(
    "huge",
    ["1" * 4301, "+" + "7" * 5000, "-" + "9" * 309, "0x" + "f" * 3000, "0b" + "1" * 5000, "0o" + "7" * 400],
)
def test_a_number_past_a_double_in_extracted_fields_is_kept_as_its_string(forwarder_env: StandIn, huge: str) -> None:
    # JavaScript's 1 * v is Infinity past 1.8e308, so the blueprint keeps the string; int() would
    # raise at 4,301 digits and lose the whole batch.
    fields = {"n": huge, "status": "200"}
    events = [{**one_event(f"line {n}", f"3{n:055d}"), "extractedFields": fields} for n in range(3)]
    result = handler.lambda_handler(event_with(*events), LocalContext())
    assert (result["status"], result["indexed"], result["dead_lettered"]) == ("ok", 3, 0), result
    (stored,) = forwarder_env.indices.values()
    assert {doc["_source"]["n"] for doc in stored.values()} == {huge} and forwarder_env.count() == 3
    assert {doc["_source"]["status"] for doc in stored.values()} == {200}
