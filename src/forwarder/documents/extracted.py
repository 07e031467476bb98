"""extractedFields -> the source, as the reference builds it from a filter pattern's fields.

Non-empty fields are kept; numbers become numbers; a value holding JSON is also
kept parsed, as `$<key>`. Every row of a payload comes from one filter pattern,
so the rows share their keys: `sources` tests a key's values (a column) at a
time, each distinct value once, and makes a copy of each row with its numbers
made numbers, instead of building each row's source field by field (`source`).

That second version stays because it earns its keep end to end on payloads of
filter-pattern fields (bench/second_versions.py; docs/performance.md, "Figures
behind the code").
"""

from __future__ import annotations

import operator
from collections import deque
from itertools import repeat
from typing import Any, NamedTuple

import orjson

from forwarder import jsjson
from forwarder.jsnumber import JS_SPACE, js_number, js_truthy

_FIRST_CHARACTER = operator.itemgetter(slice(0, 1))
_MAY_BE_NUMERIC = frozenset("+-.0123456789" + JS_SPACE)  # what a JavaScript number literal can start with
_MAY_BE_NUMERIC_OR_EMPTY = _MAY_BE_NUMERIC | {""}


class _Marker:
    """What a row keeps in place of a value that `_settled` must look at."""


_DICT_WAY = _Marker()  # a value only `source` can keep
_LEFT_OUT = _Marker()  # an empty value: the field is left out


class _WithJson(NamedTuple):
    """A value holding JSON: kept as `$key` (parsed), then as the key itself."""

    parsed: Any
    text: str


_UNUSUAL = frozenset({_WithJson, _Marker})  # the classes of what `_settled` looks at
_U64_DIGITS = 19  # a string of at most this many digits is an integer orjson can write (< 2**64)


def source(fields: dict[str, Any]) -> dict[str, Any]:
    """One row's source, the dict way: any keys and values."""
    made: dict[str, Any] = {}
    for key in _js_key_order(fields):
        value = fields[key]
        if value.__class__ is str:
            for name, kept in _string_field(key, value):
                made[name] = kept
            continue
        if not js_truthy(value):
            continue
        number = js_number(value)
        made[key] = value if number is None else number
    return made


def sources(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's source, as `source` makes it, a column at a time where rows share their keys."""
    made = _column_sources(rows)
    return [row_source if row_source is not None else source(row) for row, row_source in zip(rows, made, strict=True)]


def _column_sources(rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Each row's source; None for a row that only `source` can make.

    That is a row with keys that JavaScript reorders or that clash with what the
    forwarder sets (array indices, `@...`, `$...`), values that are not strings,
    numbers orjson cannot write, or every value empty.
    """
    if rows and set(map(len, rows)) == {len(rows[0])}:
        try:  # rows of one length that all hold the first row's keys have the same keys
            return _same_keys_sources(rows)
        except KeyError:
            pass
    made: list[dict[str, Any] | None] = [None] * len(rows)
    groups: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(position)
    for positions in groups.values():
        for position, row_source in zip(
            positions, _same_keys_sources(list(map(rows.__getitem__, positions))), strict=True
        ):
            made[position] = row_source
    return made


def _same_keys_sources(rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """`_column_sources` of rows with the same keys: a copy of each row, its numbers made numbers."""
    keys = list(rows[0])
    if not keys or not all(map(_plain_key, keys)) or not _writable("".join(keys)):
        return [None] * len(rows)
    copies = list(map(dict.copy, rows))
    unusual_rows: set[int] = set()
    for key in keys:
        values = list(map(operator.itemgetter(key), rows))
        try:
            kept_of, unusual = _kept(values)
        except TypeError:  # not strings
            return [None] * len(rows)
        if kept_of is None:
            continue  # every row keeps its string as it is
        kept = list(map(kept_of.__getitem__, values))
        deque(map(operator.setitem, copies, repeat(key), kept), maxlen=0)  # copies[i][key] = kept[i], in C
        if unusual:
            unusual_rows.update(position for position, value in enumerate(kept) if value.__class__ in _UNUSUAL)
    made: list[dict[str, Any] | None] = list(copies)
    for position in unusual_rows:
        made[position] = _settled(copies[position])  # None: left to `source`
    return made


def _settled(row: dict[str, Any]) -> dict[str, Any] | None:
    """A row with unusual values as `source` makes it; None if only `source` can, or if nothing is left."""
    made = {}
    for key, value in row.items():
        if value is _LEFT_OUT:
            continue
        if value is _DICT_WAY:
            return None
        if value.__class__ is _WithJson:
            made["$" + key] = value.parsed  # the parsed JSON goes before the field itself, as in `source`
            value = value.text
        made[key] = value
    return made or None


def _kept(values: list[str]) -> tuple[dict[str, Any] | None, bool]:
    """What a row keeps of each distinct value (None: each string itself), and whether any is left out or dict-way."""
    distinct = list(set(values))
    joined = "".join(distinct)  # TypeError unless all are strings
    if joined.isdigit() and joined.isascii() and min(map(len, distinct)) > 0 and max(map(len, distinct)) <= _U64_DIGITS:
        numbers = dict(zip(distinct, map(int, distinct), strict=True))  # counts and statuses: integers orjson writes
        return numbers, False
    if (
        "{" not in joined
        and _writable(joined)
        and (
            set(map(_FIRST_CHARACTER, distinct)).isdisjoint(_MAY_BE_NUMERIC_OR_EMPTY)  # words, paths
            or min(map(str.count, distinct, repeat("."))) > 1  # addresses
        )
    ):
        return None, False  # no number, no JSON, nothing left out
    kept_of = {value: _kept_value(value) for value in distinct}
    if all(kept is value for value, kept in kept_of.items()):
        return None, False  # e.g. "-": tested, and a string after all
    return kept_of, any(kept.__class__ in _UNUSUAL for kept in kept_of.values())


def _kept_value(value: str) -> Any:
    """What `_string_field` keeps of a value: one value, `_WithJson`, `_LEFT_OUT`, or `_DICT_WAY`."""
    fields = _string_field("", value)  # the key only names the `$` field
    if not fields:
        return _LEFT_OUT
    try:
        orjson.dumps([kept for _, kept in fields])
    except TypeError:  # integers over 64 bits, lone surrogates
        return _DICT_WAY
    return fields[0][1] if len(fields) == 1 else _WithJson(fields[0][1], value)


def _writable(text: str) -> bool:
    """No lone surrogate, which orjson refuses to write."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _string_field(key: str, value: str) -> list[tuple[str, Any]]:
    """The (name, value) pairs a string field puts in the source, in order."""
    if not value:
        return []
    if value.isdigit() and value.isascii() and len(value) < 20:
        return [(key, int(value))]  # the usual status or byte count, without the general test
    # Most strings fail on their first character or on a second dot (an IP address).
    number = js_number(value) if value[0] in _MAY_BE_NUMERIC and value.count(".") < 2 else None
    if number is not None:
        return [(key, number)]
    brace = value.find("{")
    if brace >= 0:
        parsed = jsjson.object_or_none(value[brace:])
        if parsed is not None:
            return [("$" + key, parsed), (key, value)]
    return [(key, value)]


def _plain_key(key: str) -> bool:
    first = key[:1]
    return first not in ("@", "$") and not first.isdigit()


def _js_key_order(obj: dict[str, Any]) -> list[str]:
    """Keys in JavaScript's own-property order: array indices ascending, then the rest."""
    keys = list(obj)
    if not any(map(str.isdigit, map(_FIRST_CHARACTER, keys))):
        return keys  # no key can be an array index
    indices = [key for key in keys if _is_array_index(key)]
    indices.sort(key=int)
    return indices + [key for key in keys if not _is_array_index(key)]


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
