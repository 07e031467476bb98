"""The stand-in answers as OpenSearch 2.x does; these guard the guard."""

from __future__ import annotations

import gzip
import json

import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness.standin import StandIn


def send(server: StandIn, body: bytes, *, tamper: bool = False, gzip_body: bool = False, sign: bool = True):
    headers = {"Content-Type": "application/json"}
    wire = gzip.compress(body) if gzip_body else body
    if gzip_body:
        headers["Content-Encoding"] = "gzip"
    request = AWSRequest(method="POST", url=server.url + "/_bulk", data=wire, headers=headers)
    if sign:
        c = server.credentials
        SigV4Auth(Credentials(c.access_key, c.secret_key, c.session_token), server.service, server.region).add_auth(
            request
        )
    if tamper:
        wire = wire.replace(b"a", b"b", 1)
    answer = urllib3.request("POST", server.url + "/_bulk", body=wire, headers=dict(request.headers.items()))
    return answer.status, json.loads(answer.data)


ACTION = b'{"index":{"_index":"mydata-a-b-2026.11.22","_id":"1"}}\n'


def test_type_in_the_action_line_is_refused_like_opensearch_2(standin: StandIn) -> None:
    status, answer = send(standin, b'{"index":{"_index":"i","_type":"/aws/x","_id":"1"}}\n{"a":1}\n')
    assert status == 400
    assert answer["error"]["reason"] == "Action/metadata line [1] contains an unknown parameter [_type]"


def test_a_body_without_the_final_newline_is_refused(standin: StandIn) -> None:
    status, answer = send(standin, ACTION + b'{"a":1}')
    assert status == 400 and "terminated by a newline" in answer["error"]["reason"]


def test_a_malformed_action_line_is_refused(standin: StandIn) -> None:
    status, answer = send(standin, b"not json\n{}\n")
    assert status == 400 and answer["error"]["type"] == "json_parse_exception"


def test_unsigned_and_tampered_requests_are_refused(standin: StandIn) -> None:
    assert send(standin, ACTION + b'{"a":1}\n', sign=False) == (403, {"message": "Missing Authentication Token"})
    status, answer = send(standin, ACTION + b'{"a":1}\n', tamper=True)
    assert status == 403 and "signature we calculated does not match" in answer["message"]
    assert standin.count() == 0


def test_gzip_bodies_are_read_and_the_signature_covers_the_wire_bytes(standin: StandIn) -> None:
    status, answer = send(standin, ACTION + b'{"a":1}\n', gzip_body=True)
    assert status == 200 and answer["errors"] is False
    assert standin.seen[0].content_encoding == "gzip"


def test_items_are_answered_one_by_one_with_created_then_updated(standin: StandIn) -> None:
    status, answer = send(standin, ACTION + b'{"n":1}\n' + ACTION + b'{"n":2}\n')
    assert status == 200
    assert [item["index"]["result"] for item in answer["items"]] == ["created", "updated"]
    assert [item["index"]["status"] for item in answer["items"]] == [201, 200]


@pytest.mark.parametrize(
    ("first", "second", "error"),
    [
        (b'{"s":200}', b'{"s":"OK"}', "failed to parse field [s] of type [long]"),
        (b'{"o":{"x":1}}', b'{"o":"flat"}', "object mapping for [o]"),
        (b'{"d":1}', b'{"d":1,"d":2}', "Duplicate field 'd'"),
    ],
)
def test_dynamic_mapping_conflicts_fail_only_that_item(standin: StandIn, first, second, error) -> None:
    other = b'{"index":{"_index":"mydata-a-b-2026.11.22","_id":"2"}}\n'
    status, answer = send(standin, ACTION + first + b"\n" + other + second + b"\n")
    assert status == 200 and answer["errors"] is True
    ok, failed = (item["index"] for item in answer["items"])
    assert ok["status"] == 201
    assert failed["status"] == 400 and failed["error"]["type"] == "mapper_parsing_exception"
    assert error in failed["error"]["reason"]


def test_queued_whole_request_answers_come_first(standin: StandIn) -> None:
    standin.queue_answer(429)
    status, answer = send(standin, ACTION + b'{"a":1}\n')
    assert status == 429 and answer["error"]["type"] == "es_rejected_execution_exception"
    assert send(standin, ACTION + b'{"a":1}\n')[0] == 200
