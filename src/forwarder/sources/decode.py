"""base64 -> gunzip -> UTF-8 -> JSON, into a typed Payload.

Every kind of bad input raises its own PayloadError subclass whose message
names the problem; no library exception escapes. Inflating is bounded so a
gzip bomb is refused before it can exhaust the function's memory.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pybase64  # SIMD base64: a thirtieth of the stdlib's time (docs/performance.md, "Figures behind the code")
from isal import isal_zlib  # zlib's API on ISA-L: the fastest inflate of those measured (docs/performance.md)

from forwarder import jsjson
from forwarder.errors import (
    MissingAwslogsDataError,
    NotAwslogsPayloadError,
    NotBase64Error,
    NotGzipError,
    NotJsonError,
    PayloadTooLargeError,
    TruncatedGzipError,
)

CONTROL_MESSAGE = "CONTROL_MESSAGE"
DATA_MESSAGE = "DATA_MESSAGE"
_GZIP_MAGIC = b"\x1f\x8b"
_INFLATE_STEP = 1 << 20  # inflate at most 1 MiB of output per call


class LogEvent(TypedDict):
    id: str
    timestamp: int
    message: str
    extractedFields: NotRequired[dict[str, Any]]


@dataclass(frozen=True)
class Payload:
    message_type: str
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: list[str]
    log_events: list[LogEvent]
    size: int = 0  # bytes of the inflated payload JSON

    @property
    def is_control(self) -> bool:
        return self.message_type == CONTROL_MESSAGE


def awslogs_data(event: Any) -> str:
    """The base64 string of a CloudWatch Logs subscription event."""
    awslogs = event.get("awslogs") if isinstance(event, dict) else None
    data = awslogs.get("data") if isinstance(awslogs, dict) else None
    if not isinstance(data, str):
        raise MissingAwslogsDataError(
            "event has no awslogs.data string: a CloudWatch Logs subscription event looks like "
            '{"awslogs": {"data": "<base64 of gzip JSON>"}}'
        )
    return data


def decode_event(event: Any, max_payload_bytes: int) -> Payload:
    """Decode a Lambda event from a CloudWatch Logs subscription filter."""
    return decode_data(awslogs_data(event), max_payload_bytes)


def decode_data(data: str | bytes, max_payload_bytes: int) -> Payload:
    raw = gunzip(b64decode(data), max_payload_bytes)
    return parse_payload(raw)


def b64decode(data: str | bytes) -> bytes:
    try:
        return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    # Tolerate line breaks (e.g. from `base64` wrapping at 76 columns), nothing else.
    compact = "".join(data.split()) if isinstance(data, str) else b"".join(data.split())
    try:
        return pybase64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as err:
        raise NotBase64Error(f"awslogs.data is not valid base64 ({err})") from None


def gunzip(compressed: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member, refusing output beyond `max_bytes`."""
    if not compressed.startswith(_GZIP_MAGIC):
        raise NotGzipError(f"awslogs.data is not gzip: it starts with {compressed[:4]!r}, not the gzip magic 1f8b")
    pieces: list[bytes] = []
    size = 0
    rest = compressed
    while rest:
        inflater = isal_zlib.decompressobj(wbits=31)
        chunk = rest
        try:
            while chunk and not inflater.eof:
                piece = inflater.decompress(chunk, min(max_bytes - size + 1, _INFLATE_STEP))
                pieces.append(piece)
                size += len(piece)
                if size > max_bytes:
                    raise PayloadTooLargeError(
                        f"payload inflates past MAX_PAYLOAD_BYTES={max_bytes} bytes "
                        f"({len(compressed)} bytes compressed); refused while inflating"
                    )
                chunk = inflater.unconsumed_tail
        except isal_zlib.error as err:  # type: ignore[misc]  # the stub calls the class an instance
            raise NotGzipError(f"awslogs.data is corrupt gzip ({err})") from None
        if not inflater.eof:
            raise TruncatedGzipError(
                f"awslogs.data is truncated gzip: the stream ends after {len(compressed)} "
                f"compressed bytes ({size} inflated) without its end marker"
            )
        rest = inflater.unused_data  # a further gzip member, as `gunzip` would read
        if rest and not rest.startswith(_GZIP_MAGIC):
            break  # trailing garbage after the last member, as Node's gunzip ignores
    return b"".join(pieces)  # one piece (a payload under 1 MiB) is returned without a copy


def parse_payload(raw: bytes) -> Payload:
    """JSON -> Payload; invalid UTF-8 becomes U+FFFD as Node's Buffer.toString does."""
    try:
        doc = jsjson.loads(raw)
    except ValueError:
        try:
            doc = jsjson.loads(raw.decode("utf-8", errors="replace"))
        except ValueError as err:
            raise NotJsonError(f"inflated payload is not JSON ({err}); it starts with {raw[:40]!r}") from None
    return _as_payload(doc, len(raw))


def _as_payload(doc: Any, size: int) -> Payload:
    if not isinstance(doc, dict):
        raise NotAwslogsPayloadError(f"payload JSON is a {type(doc).__name__}, not an awslogs object with messageType")
    message_type = doc.get("messageType")
    if message_type not in (DATA_MESSAGE, CONTROL_MESSAGE):
        raise NotAwslogsPayloadError(
            f"payload messageType is {message_type!r}, expected DATA_MESSAGE or CONTROL_MESSAGE"
        )
    events = doc.get("logEvents", None if message_type == DATA_MESSAGE else [])
    if not isinstance(events, list):  # a DATA_MESSAGE without its events is not what CloudWatch sends
        raise NotAwslogsPayloadError(f"payload logEvents is {'missing' if events is None else 'not a list'}")
    fields = {}
    for key in ("owner", "logGroup", "logStream"):
        value = doc.get(key, "")
        if message_type == DATA_MESSAGE and not (isinstance(value, str) and value):
            raise NotAwslogsPayloadError(f"DATA_MESSAGE payload has no {key} string")
        fields[key] = value if isinstance(value, str) else ""
    filters = doc.get("subscriptionFilters", [])
    return Payload(
        message_type=message_type,
        owner=fields["owner"],
        log_group=fields["logGroup"],
        log_stream=fields["logStream"],
        subscription_filters=filters if isinstance(filters, list) else [],
        log_events=events,
        size=size,
    )
