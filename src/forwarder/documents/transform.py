"""Payload -> documents (index name, _id, source), as the Node reference builds them.

Pure: no I/O, and blind to the destination (bulk.py writes the action lines).
The source of each log event is the embedded JSON of its message (or its
extractedFields), then the `@`-fields, exactly as the reference sets them; see
../shared/reference/README.md for what must match and what differs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import compress, repeat
from typing import Any

import orjson

from forwarder import jsjson
from forwarder.documents import extracted
from forwarder.documents.document import Documents
from forwarder.documents.naming import DEFAULT as DEFAULT_INDEX_PATTERN
from forwarder.documents.naming import Facts, IndexPattern, index_base
from forwarder.documents.schema import (
    AT_FIELDS,
    ID,
    LOG_GROUP,
    LOG_STREAM,
    MESSAGE,
    OWNER,
    SYSTEM_FIELDS,
    TIMESTAMP,
    date_suffix,
)
from forwarder.errors import NotAwslogsPayloadError
from forwarder.jsnumber import js_number
from forwarder.sources.decode import LogEvent, Payload

_dumps, _loads = orjson.dumps, orjson.loads  # the fast path; jsjson where orjson refuses
# The @-fields' JSON, as _joined writes it after each source: `"@id":` opens it, after the source's own keys if any.
_FIRST_ID_KEY, _NEXT_ID_KEY = b'{"%b":' % ID.encode(), b',"%b":' % ID.encode()
_STAMP_KEY = b',"%b":"' % TIMESTAMP.encode()
_PAYLOAD_KEYS = tuple(b',"%b":' % key.encode() for key in (OWNER, LOG_GROUP, LOG_STREAM))
_TWO_DIGITS = tuple(b"%02d" % number for number in range(60))
_MILLIS_THEN_MESSAGE_KEY = tuple(b'.%03dZ","%b":' % (ms, MESSAGE.encode()) for ms in range(1000))
_ID, _MESSAGE, _TIMESTAMP = operator.itemgetter("id"), operator.itemgetter("message"), operator.itemgetter("timestamp")
# Epoch milliseconds a date can hold (years 1-9999, as OpenSearch's ISO dates and Python's datetime).
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999
_EXTRACTED_FIELDS = operator.methodcaller("get", "extractedFields")


# What every source gets last: a source holding one of these keys has them set in place instead.
_SET_LAST = frozenset((*AT_FIELDS, *SYSTEM_FIELDS))
_NO_SYSTEM_FIELDS: dict[str, str] = {}


@dataclass(frozen=True)
class Shape:
    """How documents are shaped beyond the reference's rules: their index names and parsed JSON fields."""

    index_prefix: str = "mydata"
    pattern: IndexPattern = DEFAULT_INDEX_PATTERN
    parse_json_fields: tuple[str, ...] = ()  # PARSE_JSON_FIELDS: each parsed into <field>_json
    region: str = ""  # {region} where an event has no @aws.region


REJECTED = NotAwslogsPayloadError.__name__  # the error type a rejected event is dead-lettered and logged with


@dataclass(frozen=True)
class Rejected:
    """A log event that cannot become a document (a null id, a timestamp past year 9999...), kept as it came."""

    event: Any
    reason: str


@dataclass
class Counts:
    """What a payload's documents took a default for, for the metrics, and the events that made none."""

    index_name_defaults: int = 0  # documents whose index name took MISSING for a placeholder
    json_fields_not_parsed: int = 0  # PARSE_JSON_FIELDS values that are not a JSON object
    rejected: list[Rejected] = field(default_factory=list)  # for the dead letter, with their reason


def to_documents(payload: Payload, shape: Shape | str) -> Documents:
    """One document per log event, in event order. A control message gives none."""
    return make_documents(payload, Shape(shape) if isinstance(shape, str) else shape)[0]


def make_documents(payload: Payload, shape: Shape) -> tuple[Documents, Counts]:
    """The documents of the good events, and what they took a default for; the others are in `Counts.rejected`.

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
        has_fields = any(map(operator.contains, events, repeat("extractedFields")))  # a filter pattern's
        fields_of: list[Any] = list(map(_EXTRACTED_FIELDS, events)) if has_fields else [None] * len(events)
        # Whole columns checked in C; the slow walk below names the first bad event.
        if not set(map(type, ids)) <= {str} or "" in ids:
            raise TypeError("id is not a non-empty string")  # a null _id would index a copy on each re-send
        if not set(map(type, messages)) <= {str}:
            raise TypeError("message is not a string")
        if not set(map(type, timestamps)) <= {int}:
            timestamps = list(map(_as_time_value, timestamps))
        first, last = (min(timestamps), max(timestamps)) if timestamps else (0, 0)
        if first < FIRST_MS or last > LAST_MS:
            raise ValueError("timestamp outside the calendar")
        if not set(map(type, fields_of)) <= {dict, type(None)}:
            raise TypeError("extractedFields is not an object")
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        return _without_rejected(payload, shape)

    systems = _system_fields(events, fields_of, has_fields)
    times = _Times.of(timestamps, first, last)
    sources = _embedded_sources(messages, fields_of)
    if has_fields:
        with_fields = [position for position, fields in enumerate(fields_of) if fields is not None]
        for position, source in zip(
            with_fields, extracted.sources(list(map(fields_of.__getitem__, with_fields))), strict=True
        ):
            sources[position] = source
    if shape.parse_json_fields:
        counts.json_fields_not_parsed = _parse_json_fields(sources, shape.parse_json_fields)
    pattern = shape.pattern
    if pattern.is_default:
        base = index_base(payload.log_group, shape.index_prefix, pattern.date_format)
        index_names = times.by_day(lambda day: f"{base}-{date_suffix(day, pattern.date_format)}")
    else:
        facts = Facts(shape.index_prefix, payload.log_group, payload.log_stream, payload.owner, shape.region)
        days = times.by_day(int)
        index_names, counts.index_name_defaults = pattern.names(facts, sources, systems or _no_systems(sources), days)
    at_fields = _AtFields(ids, messages, times, payload, systems)
    return Documents(index_names, ids, _serialized(sources, at_fields)), counts


def _system_fields(events: list[LogEvent], fields_of: list[Any], has_fields: bool) -> list[dict[str, str]]:
    """Each event's `@aws.account` / `@aws.region`, or [] when no event has any.

    A subscription with emitSystemFields delivers them in each event's extractedFields
    (beside a filter pattern's own fields, if any); an event may also carry them as its
    own keys. They are taken out of extractedFields, so that an event whose only
    extracted fields are system fields keeps the source its message makes.
    """
    rows = [*events, *(fields for fields in fields_of if fields is not None)] if has_fields else events
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


@dataclass(frozen=True)
class _AtFields:
    """What each source gets last, in this order: the @-fields, then its event's system fields."""

    ids: list[str]
    messages: list[str]
    times: _Times
    payload: Payload
    systems: list[dict[str, str]]  # [] when no event has any

    def of(self, position: int, stamp: bytes) -> dict[str, Any]:
        """One source's, as a dict; `stamp` is its `_STAMP_KEY` and ISO second from `_Times.stamp_of`."""
        millis = self.times.millis[position]
        payload = self.payload
        iso = f"{stamp[len(_STAMP_KEY) :].decode()}.{millis:03d}Z"
        values = (
            self.ids[position],
            iso,
            self.messages[position],
            payload.owner,
            payload.log_group,
            payload.log_stream,
        )
        return {**dict(zip(AT_FIELDS, values, strict=True)), **(self.systems[position] if self.systems else {})}


def _serialized(sources: list[dict[str, Any]], at: _AtFields) -> list[bytes]:
    """Each source with its @-fields set last, as `source.update(@-fields)` and JSON.stringify make it.

    A source that holds none of those keys (nearly every one) is written without its
    closing brace and the @-fields' JSON follows as bytes: one join per event, and no
    dict per event filled and written again. A source with one of them (its own
    `@timestamp`, say) has them set on the dict, in place where they are.
    orjson writes; jsjson a value orjson refuses (lone surrogates, integers over 64 bits).
    """
    stamp_of = at.times.stamp_of()
    payload = at.payload
    values = (payload.owner, payload.log_group, payload.log_stream)
    tail = b"".join(key + jsjson.dumps(value) for key, value in zip(_PAYLOAD_KEYS, values, strict=True))
    tails = [tail + _members(system) + b"}" for system in at.systems] if at.systems else [tail + b"}"] * len(sources)
    heads = [_FIRST_ID_KEY] * len(sources)  # an empty source: b'{"@id":'
    updated = []
    for position in compress(range(len(sources)), sources):  # the sources with keys of their own
        source = sources[position]
        if source.keys().isdisjoint(_SET_LAST):
            heads[position] = jsjson.dumps(source)[:-1] + _NEXT_ID_KEY
        else:
            updated.append(position)
    stamps = list(map(stamp_of.__getitem__, at.times.seconds))
    try:
        made = _joined(heads, at, stamps, _dumps, tails)
    except TypeError:  # a lone surrogate in an id or a message
        made = _joined(heads, at, stamps, jsjson.dumps, tails)
    for position in updated:
        source = sources[position]
        source.update(at.of(position, stamps[position]))
        made[position] = jsjson.dumps(source)
    return made


def _joined(
    heads: list[bytes], at: _AtFields, stamps: list[bytes], dumps: Callable[[Any], bytes], tails: list[bytes]
) -> list[bytes]:
    """head + id + timestamp + message + tail, each event's parts made as the join takes them.

    Each result is exactly its size: orjson's own results keep spare capacity, and
    keeping 10,000 of them raised the peak RSS at 10,000 events from 107 to 142 MB.
    """
    millis = map(_MILLIS_THEN_MESSAGE_KEY.__getitem__, at.times.millis)
    parts = zip(heads, map(dumps, at.ids), stamps, millis, map(dumps, at.messages), tails, strict=True)
    return list(map(b"".join, parts))


def _members(fields: dict[str, str]) -> bytes:
    """`fields` as JSON members after others: b',"k":"v",...', or b"" for none."""
    return b"," + jsjson.dumps(fields)[1:-1] if fields else b""


def _embedded_sources(messages: list[str], fields_of: list[Any]) -> list[dict[str, Any]]:
    """For each message without extractedFields, the JSON object its text holds from its first `{`, else {}.

    One loop over the messages with a `{`, calling orjson directly (no call per
    candidate to `jsjson`). The messages without one share one empty dict, which
    is replaced, never filled: making and freeing a dict per event cost 0.6 M
    instructions per 1,000 events.
    """
    sources: list[dict[str, Any]] = [{}] * len(messages)
    braces = list(map(str.find, messages, repeat("{")))
    for position in compress(range(len(messages)), map(operator.ge, braces, repeat(0))):
        if fields_of[position] is not None:
            continue
        text = messages[position][braces[position] :]
        try:
            source = _loads(text) if text[-1] == "}" else jsjson.object_or_none(text)
        except orjson.JSONDecodeError as err:
            source = jsjson.refused_object_or_none(text, err)  # what JSON.parse reads but orjson refuses
        if source:
            sources[position] = source
    return sources


@dataclass(frozen=True)
class _Times:
    """Each event's time as whole seconds after `origin` (epoch seconds, the first event's minute) and milliseconds.

    Kept small on purpose: CPython divides an int under 2**30 on a fast path, and an
    epoch millisecond (over 2**40) takes its slow path, several times the cost per event.
    """

    origin: int
    seconds: list[int]
    millis: list[int]
    first_day: int  # days since 1970-01-01 of the first and the last event
    last_day: int

    @classmethod
    def of(cls, timestamps: list[int], first: int, last: int) -> _Times:
        origin = first // 60_000 * 60
        offsets = list(map(operator.sub, timestamps, repeat(origin * 1000)))
        seconds = list(map(operator.floordiv, offsets, repeat(1000)))
        millis = list(map(operator.mod, offsets, repeat(1000)))
        return cls(origin, seconds, millis, first // 86_400_000, last // 86_400_000)

    def by_day[T](self, value_of_day: Callable[[int], T]) -> list[T]:
        """`value_of_day(day)` for each event, made once per day (a payload nearly always spans one)."""
        if self.first_day == self.last_day:
            return [value_of_day(self.first_day)] * len(self.seconds)
        distinct = list(set(self.seconds))
        days = list(map(operator.floordiv, map(operator.add, distinct, repeat(self.origin)), repeat(86_400)))
        value_of = {day: value_of_day(day) for day in set(days)}
        value_at = dict(zip(distinct, map(value_of.__getitem__, days), strict=True))
        return list(map(value_at.__getitem__, self.seconds))

    def stamp_of(self) -> dict[int, bytes]:
        """Each distinct second's b',"@timestamp":"YYYY-MM-DDTHH:MM:SS', a column at a time."""
        distinct = list(set(self.seconds))
        minutes = list(map(operator.floordiv, distinct, repeat(60)))  # since the origin's minute
        prefix_of = {minute: _minute_prefix(self.origin // 60 + minute) for minute in set(minutes)}
        second_of_minute = map(_TWO_DIGITS.__getitem__, map(operator.mod, distinct, repeat(60)))
        return dict(
            zip(distinct, map(operator.add, map(prefix_of.__getitem__, minutes), second_of_minute), strict=True)
        )


def _minute_prefix(minute: int) -> bytes:
    """b',"@timestamp":"YYYY-MM-DDTHH:MM:' of a minute since 1970."""
    day, minute_of_day = divmod(minute, 1440)
    date = datetime.fromtimestamp(day * 86_400, UTC)
    return _STAMP_KEY + b"%04d-%02d-%02dT%02d:%02d:" % (date.year, date.month, date.day, *divmod(minute_of_day, 60))


def _without_rejected(payload: Payload, shape: Shape) -> tuple[Documents, Counts]:
    """One bad event never costs its neighbours: the others make their documents, it is set aside with its reason."""
    good: list[LogEvent] = []
    rejected: list[Rejected] = []
    for position, event in enumerate(payload.log_events):
        problem = _problem_of(event)
        if problem is None:
            good.append(event)
        else:
            rejected.append(Rejected(event, f"logEvents[{position}] is not a CloudWatch log event: {problem}"))
    if not rejected:  # the column checks and this walk disagree: a bug, never a silent loss
        raise NotAwslogsPayloadError("logEvents holds something that is not a CloudWatch log event")
    documents, counts = make_documents(replace(payload, log_events=good), shape)
    counts.rejected = rejected
    return documents, counts


def _problem_of(event: Any) -> str | None:
    """Why `event` is not a CloudWatch log event (id, numeric timestamp and message string), or None."""
    if not isinstance(event, dict):
        return f"it is {type(event).__name__}, not an object"
    if "id" not in event or not isinstance(event["id"], str) or not event["id"]:
        return f"id is {event.get('id', 'missing')!r}, not a non-empty string"
    if not isinstance(event.get("message"), str):
        return f"message is {type(event.get('message')).__name__}, not a string"
    try:
        timestamp = _as_time_value(event.get("timestamp"))
    except (TypeError, ValueError, OverflowError) as err:
        return str(err)
    if not FIRST_MS <= timestamp <= LAST_MS:
        return f"timestamp {timestamp} is outside years 1-9999"
    fields = event.get("extractedFields")
    if fields is not None and not isinstance(fields, dict):
        return f"extractedFields is {type(fields).__name__}, not an object"
    return None


def _as_time_value(value: Any) -> int:
    """`new Date(1 * ts)`: a numeric value truncated to whole milliseconds."""
    number = js_number(value)
    if number is None:
        raise TypeError(f"timestamp {value!r} is not a number")
    return int(number)
