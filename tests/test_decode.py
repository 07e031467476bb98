"""Decoding: base64 -> gunzip -> UTF-8 -> JSON, and a typed error for each kind of bad input."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from harness import payload_gen
from isal import isal_zlib

from forwarder.errors import (
    MissingAwslogsDataError,
    NotAwslogsPayloadError,
    NotBase64Error,
    NotGzipError,
    NotJsonError,
    PayloadError,
    PayloadTooLargeError,
    TruncatedGzipError,
)
from forwarder.sources import decode

MAX = 64 * 1024 * 1024


def event_of(raw: bytes) -> dict[str, dict[str, str]]:
    return {"awslogs": {"data": base64.b64encode(raw).decode()}}


def test_a_data_message_decodes_into_a_typed_payload() -> None:
    doc = payload_gen.payloads(seed=1, count=1, events=3)[0]
    payload = decode.decode_event(payload_gen.event_for(doc), MAX)
    assert payload.message_type == "DATA_MESSAGE"
    assert payload.log_group == doc["logGroup"]
    assert payload.owner == "123456789012"
    assert payload.log_events == doc["logEvents"]
    assert not payload.is_control


def test_a_control_message_decodes_as_control() -> None:
    doc = {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE"}],
    }
    assert decode.decode_event(payload_gen.event_for(doc), MAX).is_control


@pytest.mark.parametrize(
    ("event", "error", "words"),
    [
        ({}, MissingAwslogsDataError, "awslogs.data"),
        ({"awslogs": "x"}, MissingAwslogsDataError, "awslogs.data"),
        ({"awslogs": {"data": 5}}, MissingAwslogsDataError, "awslogs.data"),
        ({"awslogs": {"data": "not base64!!"}}, NotBase64Error, "not valid base64"),
        (event_of(b"plain text, not gzip"), NotGzipError, "not gzip"),
        (event_of(b"\x1f\x8b\x08\x00garbage-after-the-magic"), NotGzipError, "corrupt gzip"),
        (event_of(gzip.compress(b'{"messageType": "DATA_MESSAGE"}' * 50)[:-30]), TruncatedGzipError, "truncated"),
        (event_of(gzip.compress(b"{not json")), NotJsonError, "not JSON"),
        (event_of(gzip.compress(b"[1, 2]")), NotAwslogsPayloadError, "list"),
        (event_of(gzip.compress(b'{"messageType": "OTHER"}')), NotAwslogsPayloadError, "messageType"),
        (
            event_of(
                gzip.compress(b'{"messageType": "DATA_MESSAGE", "owner": "1", "logStream": "s", "logEvents": []}')
            ),
            NotAwslogsPayloadError,
            "logGroup",
        ),
        (
            event_of(
                gzip.compress(b'{"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s"}')
            ),
            NotAwslogsPayloadError,
            "logEvents is missing",
        ),
    ],
)
def test_each_kind_of_bad_input_gets_its_own_error_naming_the_problem(event, error, words) -> None:
    with pytest.raises(error) as caught:
        decode.decode_event(event, MAX)
    assert words in str(caught.value)
    assert isinstance(caught.value, PayloadError)
    shown_context = caught.value.__context__ if not caught.value.__suppress_context__ else None
    assert caught.value.__cause__ is None and shown_context is None, "no library traceback"


def test_a_gzip_bomb_is_refused_while_inflating() -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 20_000
    with pytest.raises(PayloadTooLargeError, match="MAX_PAYLOAD_BYTES=1048576"):
        decode.gunzip(bomb, 1024 * 1024)


def test_inflating_stops_at_the_bound_instead_of_inflating_everything(monkeypatch) -> None:
    produced = []
    real = isal_zlib.decompressobj

    class Counting:
        def __init__(self, **kw):
            self._d = real(**kw)

        def decompress(self, data, max_length=0):
            out = self._d.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._d, name)

    monkeypatch.setattr(decode.isal_zlib, "decompressobj", Counting)
    with pytest.raises(PayloadTooLargeError):
        decode.gunzip(gzip.compress(b"\0" * (50 * 1024 * 1024)), 2 * 1024 * 1024)
    assert sum(produced) <= 2 * 1024 * 1024 + 1, "never holds more than the bound + 1 byte"


def test_payload_exactly_at_the_bound_is_accepted() -> None:
    raw = b"x" * 1000
    assert decode.gunzip(gzip.compress(raw), 1000) == raw


def test_concatenated_gzip_members_are_all_read_like_gunzip() -> None:
    raw = json.dumps(payload_gen.payloads(seed=2, count=1, events=4)[0]).encode()
    half = len(raw) // 2
    event = event_of(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    assert len(decode.decode_event(event, MAX).log_events) == 4


def test_base64_wrapped_in_lines_is_accepted() -> None:
    doc = payload_gen.payloads(seed=3, count=1, events=2)[0]
    data = payload_gen.event_for(doc)["awslogs"]["data"]
    wrapped = "\n".join(data[i : i + 76] for i in range(0, len(data), 76))
    assert decode.decode_event({"awslogs": {"data": wrapped}}, MAX).log_events == doc["logEvents"]


def test_invalid_utf8_is_kept_as_u_fffd() -> None:
    raw = (
        b'{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/g","logStream":"s",'
        b'"logEvents":[{"id":"1","timestamp":1,"message":"caf\xc3 \xff end"}]}'
    )
    payload = decode.decode_event(event_of(gzip.compress(raw)), MAX)
    assert payload.log_events[0]["message"] == "caf\ufffd \ufffd end"


def test_610080_tiny_events_are_refused_within_a_256_mb_function_even_outside_lambda(tmp_path) -> None:
    """61.7 MiB of tiny events peaked at 584 MB under the old 64 MiB local bound: an OOM kill at 256 MB.

    The peak is the process's own (VmHWM): ru_maxrss would carry this test's over the exec.
    """
    import json
    import subprocess
    import sys

    events = [{"id": f"{n:050d}", "timestamp": 1_795_391_999_000 + n, "message": "x"} for n in range(610_080)]
    raw = json.dumps(
        {
            "messageType": "DATA_MESSAGE",
            "owner": "1",
            "logGroup": "/g",
            "logStream": "s",
            "subscriptionFilters": [],
            "logEvents": events,
        }
    ).encode()
    assert 61 * 2**20 < len(raw) < 62 * 2**20
    (tmp_path / "data").write_bytes(base64.b64encode(gzip.compress(raw, compresslevel=1)))
    probe = (
        "import sys\n"
        "from forwarder import pipeline\n"
        "from forwarder.errors import PayloadTooLargeError\n"
        "from forwarder.settings import Settings\n"
        "try:\n"
        "    pipeline.prepare(open(sys.argv[1]).read(), Settings.from_env())\n"
        "except PayloadTooLargeError:\n"
        "    peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
        "    print('refused', int(peak.split()[1]) // 1024)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "OPENSEARCH_ENDPOINT": "http://127.0.0.1:9", "AWS_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "data")], env=env, capture_output=True, text=True
    )
    assert done.stdout.startswith("refused "), done.stdout + done.stderr
    assert int(done.stdout.split()[1]) < 128, f"peak {done.stdout.split()[1]} MB"
