"""Payload -> documents (index name, _id, source), as the Node reference builds them.

Pure: no I/O. The source of each log event is the embedded JSON of its message
(or its extractedFields), then the `@`-fields, exactly as the reference sets
them; see ../shared/reference/README.md for what must match and what differs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from forwarder import jsjson
from forwarder.decode import LogEvent, Payload
from forwarder.errors import NotAwslogsPayloadError
from forwarder.jsnumber import js_number, js_truthy

MS_PER_DAY = 86_400_000
MAX_INDEX_BYTES = 255
_FORBIDDEN_IN_INDEX = re.compile(r'[\\/*?"<>| ,#:]')
_DATE_SUFFIX_BYTES = len("-YYYY.MM.DD")


class Document(NamedTuple):
    index_name: str
    id: str
    source: bytes  # serialized JSON object


def to_documents(payload: Payload, index_prefix: str) -> list[Document]:
    """One document per log event, in event order. A control message gives none."""
    if payload.is_control:
        return []
    base = index_base(payload.log_group, index_prefix)
    days: dict[int, tuple[str, str]] = {}  # day number -> (index name, ISO date)
    owner, group, stream = payload.owner, payload.log_group, payload.log_stream
    documents = []
    for position, event in enumerate(payload.log_events):
        try:
            timestamp = event["timestamp"]
            if type(timestamp) is not int:
                timestamp = _as_time_value(timestamp)
            day, ms_of_day = divmod(timestamp, MS_PER_DAY)
            if day not in days:
                days[day] = _day(base, day)
            index, iso_date = days[day]
            message = event["message"]
            source = _source(message, event)
            source["@id"] = event["id"]
            source["@timestamp"] = iso_date + _iso_time(ms_of_day)
            source["@message"] = message
            source["@owner"] = owner
            source["@log_group"] = group
            source["@log_stream"] = stream
            documents.append(Document(index, event["id"], jsjson.dumps(source)))
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as err:
            raise NotAwslogsPayloadError(
                f"logEvents[{position}] is not a CloudWatch log event "
                f"(id, numeric timestamp and message string expected): {err!r}"
            ) from None
    return documents


def index_base(log_group: str, index_prefix: str) -> str:
    """`<prefix>-<ns>-<api>`: parts 5 and 6 of the lower-cased log group, as the reference.

    A log group with fewer than seven `/`-parts (e.g. `/aws/lambda/my-fn`) has no
    such parts; instead of the reference's `undefined` it gets its non-empty parts,
    a leading `aws` dropped, joined by `-`: `mydata-lambda-my-fn`.
    """
    parts = log_group.lower().split("/")
    if len(parts) >= 7:
        name = f"{parts[5]}-{parts[6]}"
    else:
        words = [part for part in parts if part]
        if words and words[0] == "aws":
            words = words[1:]
        name = "-".join(words) or "unnamed"
    return valid_index_name(f"{index_prefix}-{name}", MAX_INDEX_BYTES - _DATE_SUFFIX_BYTES)


def valid_index_name(name: str, max_bytes: int = MAX_INDEX_BYTES) -> str:
    """Lower case, forbidden characters as `_`, no leading `_-+`, at most `max_bytes`."""
    name = _FORBIDDEN_IN_INDEX.sub("_", name.lower()).lstrip("_-+") or "unnamed"
    encoded = name.encode()
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return name


def _day(base: str, day: int) -> tuple[str, str]:
    date = datetime.fromtimestamp(day * 86_400, UTC)
    return (
        f"{base}-{date.year}.{date.month:02d}.{date.day:02d}",
        f"{date.year:04d}-{date.month:02d}-{date.day:02d}T",
    )


def _iso_time(ms_of_day: int) -> str:
    seconds, ms = divmod(ms_of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z"


def _as_time_value(value: Any) -> int:
    """`new Date(1 * ts)`: a numeric value truncated to whole milliseconds."""
    number = js_number(value)
    if number is None:
        raise TypeError(f"timestamp {value!r} is not a number")
    return int(number)


def _source(message: str, event: LogEvent) -> dict[str, Any]:
    fields = event.get("extractedFields")
    if fields is not None:
        return _source_from_fields(fields)
    brace = message.find("{")
    if brace >= 0:
        parsed = jsjson.object_or_none(message[brace:])
        if parsed is not None:
            return parsed
    return {}


def _source_from_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Non-empty fields; numbers as numbers; a value holding JSON also as `$<key>`."""
    source: dict[str, Any] = {}
    for key in _js_key_order(fields):
        value = fields[key]
        if not js_truthy(value):
            continue
        number = js_number(value)
        if number is not None:
            source[key] = number
            continue
        if isinstance(value, str):
            brace = value.find("{")
            if brace >= 0:
                parsed = jsjson.object_or_none(value[brace:])
                if parsed is not None:
                    source["$" + key] = parsed
        source[key] = value
    return source


def _js_key_order(obj: dict[str, Any]) -> list[str]:
    """Keys in JavaScript's own-property order: array indices ascending, then the rest."""
    keys = list(obj)
    indices = [key for key in keys if _is_array_index(key)]
    if not indices:
        return keys
    indices.sort(key=int)
    return indices + [key for key in keys if not _is_array_index(key)]


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
