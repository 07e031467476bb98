"""Payload -> documents (index name, _id, source), as the Node reference builds them.

Pure: no I/O, and blind to the destination (bulk.py writes the action lines).
The source of each log event is the embedded JSON of its message (or its
extractedFields), then the `@`-fields, exactly as the reference sets them; see
../shared/reference/README.md for what must match and what differs.
"""

from __future__ import annotations

import operator
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson

from forwarder import jsjson
from forwarder.documents import extracted
from forwarder.documents.document import Documents
from forwarder.documents.naming import DEFAULT as DEFAULT_INDEX_PATTERN
from forwarder.documents.naming import Facts, IndexPattern, date_suffix, index_base
from forwarder.errors import NotAwslogsPayloadError
from forwarder.jsnumber import js_number
from forwarder.sources.decode import LogEvent, Payload

_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))
_dumps, _loads = orjson.dumps, orjson.loads  # the fast path; jsjson where orjson refuses
_exact = b"%b".__mod__  # a copy of exactly the bytes' size
_ID, _MESSAGE, _TIMESTAMP = operator.itemgetter("id"), operator.itemgetter("message"), operator.itemgetter("timestamp")
# Epoch milliseconds a date can hold (years 1-9999, as OpenSearch's ISO dates and Python's datetime).
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999
_EXTRACTED_FIELDS = operator.methodcaller("get", "extractedFields")


SYSTEM_FIELDS = ("@aws.account", "@aws.region")  # what a subscription's emitSystemFields adds to each event
_NO_SYSTEM_FIELDS: dict[str, str] = {}


@dataclass(frozen=True)
class Shape:
    """How documents are shaped beyond the reference's rules: their index names and parsed JSON fields."""

    index_prefix: str = "mydata"
    pattern: IndexPattern = DEFAULT_INDEX_PATTERN
    parse_json_fields: tuple[str, ...] = ()  # PARSE_JSON_FIELDS: each parsed into <field>_json
    region: str = ""  # {region} where an event has no @aws.region


@dataclass
class Counts:
    """What a payload's documents took a default for, for the metrics."""

    index_name_defaults: int = 0  # documents whose index name took MISSING for a placeholder
    json_fields_not_parsed: int = 0  # PARSE_JSON_FIELDS values that are not a JSON object


def to_documents(payload: Payload, shape: Shape | str) -> Documents:
    """One document per log event, in event order. A control message gives none."""
    return make_documents(payload, Shape(shape) if isinstance(shape, str) else shape)[0]


def make_documents(payload: Payload, shape: Shape) -> tuple[Documents, Counts]:
    """The documents, and what they took a default for.

    The work is done a column at a time (all ids, all timestamps, all messages)
    with `map` and `zip`, so that the per-event steps run in C; only the events
    with embedded JSON take a Python-level step of their own.
    """
    counts = Counts()
    if payload.is_control:
        return Documents([], [], []), counts
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

    systems = _system_fields(events, fields_of)
    seconds = list(map(operator.floordiv, timestamps, repeat(1000)))
    pattern = shape.pattern
    base = index_base(payload.log_group, shape.index_prefix, pattern.date_format) if pattern.is_default else ""
    index_of, iso_of = _time_parts(set(seconds), base, pattern.date_format)
    sources = _embedded_sources(messages, fields_of)
    with_fields = [position for position, fields in enumerate(fields_of) if fields is not None]
    for position, source in zip(
        with_fields, extracted.sources(list(map(fields_of.__getitem__, with_fields))), strict=True
    ):
        sources[position] = source
    if shape.parse_json_fields:
        counts.json_fields_not_parsed = _parse_json_fields(sources, shape.parse_json_fields)
    if pattern.is_default:
        index_names = list(map(index_of.__getitem__, seconds))
    else:
        facts = Facts(shape.index_prefix, payload.log_group, payload.log_stream, payload.owner, shape.region)
        days = list(map(operator.floordiv, seconds, repeat(86_400)))
        index_names, counts.index_name_defaults = pattern.names(facts, sources, systems or _no_systems(sources), days)
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
    if systems:  # only where a subscription emits them
        for source, system in zip(sources, systems, strict=True):
            source.update(system)
    return Documents(index_names, ids, _serialized(sources)), counts


def _system_fields(events: list[LogEvent], fields_of: list[Any]) -> list[dict[str, str]]:
    """Each event's `@aws.account` / `@aws.region`, or [] when no event has any.

    A subscription with emitSystemFields delivers them in each event's extractedFields
    (beside a filter pattern's own fields, if any); an event may also carry them as its
    own keys. They are taken out of extractedFields, so that an event whose only
    extracted fields are system fields keeps the source its message makes.
    """
    rows = [*events, *(fields for fields in fields_of if fields is not None)]
    if not any(any(map(operator.contains, rows, repeat(key))) for key in SYSTEM_FIELDS):  # in C: cheap when absent
        return []
    systems: list[dict[str, str]] = []
    for position, event in enumerate(events):
        system = {key: event[key] for key in SYSTEM_FIELDS if isinstance(event.get(key), str)}  # type: ignore[literal-required]
        fields = fields_of[position]
        if fields is not None and any(key in fields for key in SYSTEM_FIELDS):
            system.update({key: fields[key] for key in SYSTEM_FIELDS if isinstance(fields.get(key), str)})
            rest = {key: value for key, value in fields.items() if key not in SYSTEM_FIELDS}
            fields_of[position] = rest or None
        systems.append(system)
    return systems


def _no_systems(sources: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [_NO_SYSTEM_FIELDS] * len(sources)


def _parse_json_fields(sources: list[dict[str, Any]], names: tuple[str, ...]) -> int:
    """Each named top-level string field that holds a JSON object, parsed into `<field>_json`; the rest counted."""
    not_parsed = 0
    for name in names:
        target = f"{name}_json"
        for source in sources:
            text = source.get(name)
            if text is None:
                continue
            parsed = _json_object(text) if isinstance(text, str) and target not in source else None
            if parsed is None:
                not_parsed += 1
            else:
                source[target] = parsed
    return not_parsed


def _json_object(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        parsed = _loads(text)
    except orjson.JSONDecodeError as err:
        return jsjson.refused_object_or_none(text, err)  # what JSON.parse reads but orjson refuses
    return parsed if isinstance(parsed, dict) else None


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


def _time_parts(seconds: set[int], base: str, date_format: str) -> tuple[dict[int, str], dict[int, str]]:
    """For each distinct second: `base`'s index name for its day, and its ISO time, YYYY-MM-DDTHH:MM:SS."""
    days: dict[int, tuple[str, str]] = {}
    minutes: dict[int, str] = {}  # minute -> 'YYYY-MM-DDTHH:MM:'
    index_of: dict[int, str] = {}
    iso_of: dict[int, str] = {}
    for second in seconds:
        minute, second_of_minute = divmod(second, 60)
        day = minute // 1440
        if day not in days:
            days[day] = (f"{base}-{date_suffix(day, date_format)}", _iso_day(day))
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


def _iso_day(day: int) -> str:
    date = datetime.fromtimestamp(day * 86_400, UTC)
    return f"{date.year:04d}-{date.month:02d}-{date.day:02d}T"


def _as_time_value(value: Any) -> int:
    """`new Date(1 * ts)`: a numeric value truncated to whole milliseconds."""
    number = js_number(value)
    if number is None:
        raise TypeError(f"timestamp {value!r} is not a number")
    return int(number)
