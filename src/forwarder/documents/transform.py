"""Payload -> documents (index name, _id, source), as the Node reference builds them.

Pure: no I/O, and blind to the destination (bulk.py writes the action lines).
The source of each log event is the embedded JSON of its message (or its
extractedFields), then the `@`-fields, exactly as the reference sets them; see
../shared/reference/README.md for what must match and what differs.
"""

from __future__ import annotations

import operator
import re
from collections import deque
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson

from forwarder import jsjson
from forwarder.documents import extracted
from forwarder.documents.document import Documents
from forwarder.errors import NotAwslogsPayloadError
from forwarder.jsnumber import js_number
from forwarder.sources.decode import LogEvent, Payload

MAX_INDEX_BYTES = 255
# OpenSearch's forbidden characters, and lone surrogates (a log group name cannot hold
# them, a hostile payload can): an index name must be writable as UTF-8.
_FORBIDDEN_IN_INDEX = re.compile(r'[\\/*?"<>| ,#:\ud800-\udfff]')
_DATE_SUFFIX_BYTES = len("-YYYY.MM.DD")
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_dumps, _loads = orjson.dumps, orjson.loads  # the fast path; jsjson where orjson refuses
_exact = b"%b".__mod__  # a copy of exactly the bytes' size
_ID, _MESSAGE, _TIMESTAMP = operator.itemgetter("id"), operator.itemgetter("message"), operator.itemgetter("timestamp")
# Epoch milliseconds a date can hold (years 1-9999, as OpenSearch's ISO dates and Python's datetime).
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999
_EXTRACTED_FIELDS = operator.methodcaller("get", "extractedFields")


def to_documents(payload: Payload, index_prefix: str) -> Documents:
    """One document per log event, in event order. A control message gives none.

    The work is done a column at a time (all ids, all timestamps, all messages)
    with `map` and `zip`, so that the per-event steps run in C; only the events
    with embedded JSON take a Python-level step of their own.
    """
    if payload.is_control:
        return Documents([], [], [])
    events = payload.log_events
    try:
        ids = list(map(_ID, events))
        messages = list(map(_MESSAGE, events))
        timestamps = list(map(_TIMESTAMP, events))
        fields_of = list(map(_EXTRACTED_FIELDS, events))
        # Whole columns checked in C; the slow walk below names the first bad event.
        if not set(map(type, ids)) <= {str} or "" in ids:
            raise TypeError("id is not a non-empty string")  # a null _id would index a copy on each re-send
        if not set(map(type, messages)) <= {str}:
            raise TypeError("message is not a string")
        if not set(map(type, timestamps)) <= {int}:
            timestamps = list(map(_as_time_value, timestamps))
        if timestamps and (min(timestamps) < FIRST_MS or max(timestamps) > LAST_MS):
            raise ValueError("timestamp outside the calendar")
        if not set(map(type, fields_of)) <= {dict, type(None)}:
            raise TypeError("extractedFields is not an object")
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        raise _first_bad_event(events) from None

    seconds = list(map(operator.floordiv, timestamps, repeat(1000)))
    index_of, iso_of = _time_parts(set(seconds), index_base(payload.log_group, index_prefix))
    sources = _embedded_sources(messages, fields_of)
    with_fields = [position for position, fields in enumerate(fields_of) if fields is not None]
    for position, source in zip(
        with_fields, extracted.sources(list(map(fields_of.__getitem__, with_fields))), strict=True
    ):
        sources[position] = source
    # The @-fields go last, in this order; a source's own @-keys are overwritten where they are.
    stamps = map(
        operator.add,
        map(iso_of.__getitem__, seconds),
        map(_MILLIS.__getitem__, map(operator.mod, timestamps, repeat(1000))),
    )
    for key, values in (
        ("@id", ids),
        ("@timestamp", stamps),
        ("@message", messages),
        ("@owner", repeat(payload.owner)),
        ("@log_group", repeat(payload.log_group)),
        ("@log_stream", repeat(payload.log_stream)),
    ):
        deque(map(operator.setitem, sources, repeat(key), values), maxlen=0)  # sources[i][key] = values[i], in C
    return Documents(list(map(index_of.__getitem__, seconds)), ids, _serialized(sources))


def _serialized(sources: list[dict[str, Any]]) -> list[bytes]:
    """Each source as JSON: orjson, and jsjson for one it refuses (lone surrogates, integers over 64 bits).

    Each is copied to its exact size as it is made: orjson's results hold spare
    capacity, and keeping 10,000 of them raised the peak RSS at 10,000 events from 107 to 142 MB.
    """
    try:
        return list(map(_exact, map(_dumps, sources)))
    except TypeError:
        return list(map(_exact, map(jsjson.dumps, sources)))


def _embedded_sources(messages: list[str], fields_of: list[Any]) -> list[dict[str, Any]]:
    """For each message without extractedFields, the JSON object its text holds from its first `{`, else {}.

    One loop for finding and parsing, with orjson called directly (no call per
    candidate to `jsjson`).
    """
    sources: list[dict[str, Any]] = [{} for _ in messages]
    for position, brace in enumerate(map(str.find, messages, repeat("{"))):
        if brace < 0 or fields_of[position] is not None:
            continue
        text = messages[position][brace:]
        try:
            source = _loads(text) if text[-1] == "}" else jsjson.object_or_none(text)
        except orjson.JSONDecodeError as err:
            source = jsjson.refused_object_or_none(text, err)  # what JSON.parse reads but orjson refuses
        if source:
            sources[position] = source
    return sources


def _time_parts(seconds: set[int], base: str) -> tuple[dict[int, str], dict[int, str]]:
    """For each distinct second: its day's index name, and its ISO time to the second, YYYY-MM-DDTHH:MM:SS."""
    days: dict[int, tuple[str, str]] = {}
    minutes: dict[int, str] = {}  # minute -> 'YYYY-MM-DDTHH:MM:'
    index_of: dict[int, str] = {}
    iso_of: dict[int, str] = {}
    for second in seconds:
        minute, second_of_minute = divmod(second, 60)
        day = minute // 1440
        if day not in days:
            days[day] = _day(base, day)
        index_of[second] = days[day][0]
        prefix = minutes.get(minute)
        if prefix is None:
            hour, minute_of_hour = divmod(minute % 1440, 60)
            prefix = minutes[minute] = f"{days[day][1]}{hour:02d}:{minute_of_hour:02d}:"
        iso_of[second] = f"{prefix}{second_of_minute:02d}"
    return index_of, iso_of


def _first_bad_event(events: list[LogEvent]) -> NotAwslogsPayloadError:
    """The error naming the first event that is not a CloudWatch log event."""
    for position, event in enumerate(events):
        try:
            if not isinstance(event, dict):
                raise TypeError(f"the event is {type(event).__name__}, not an object")
            if not isinstance(event["id"], str) or not event["id"]:
                raise TypeError(f"id is {event['id']!r}, not a non-empty string")
            if not isinstance(event["message"], str):
                raise TypeError(f"message is {type(event['message']).__name__}, not a string")
            timestamp = _as_time_value(event["timestamp"])
            if not FIRST_MS <= timestamp <= LAST_MS:
                raise ValueError(f"timestamp {timestamp} is outside years 1-9999")
            fields = event.get("extractedFields")
            if fields is not None and not isinstance(fields, dict):
                raise TypeError(f"extractedFields is {type(fields).__name__}, not an object")
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            return NotAwslogsPayloadError(
                f"logEvents[{position}] is not a CloudWatch log event "
                f"(id, numeric timestamp and message string expected): {err!r}"
            )
    return NotAwslogsPayloadError("logEvents holds something that is not a CloudWatch log event")


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


def _as_time_value(value: Any) -> int:
    """`new Date(1 * ts)`: a numeric value truncated to whole milliseconds."""
    number = js_number(value)
    if number is None:
        raise TypeError(f"timestamp {value!r} is not a number")
    return int(number)
