"""extractedFields -> the source, as the reference builds it from a filter pattern's fields.

Non-empty fields are kept; numbers become numbers; a value holding JSON is also
kept parsed, as `$<key>`. Every row of a payload comes from one filter pattern,
so the rows share their keys: `heads` works a key (a column) at a time and makes
each distinct value's JSON once, instead of a dict and its dump per row.
"""

from __future__ import annotations

import operator
from typing import Any

import orjson

from forwarder import jsjson
from forwarder.jsnumber import JS_SPACE, js_number, js_truthy

_FIRST_CHARACTER = operator.itemgetter(slice(0, 1))
_MAY_BE_NUMERIC = frozenset("+-.0123456789" + JS_SPACE)  # what a JavaScript number literal can start with
_OPEN = b"{"
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


def heads(rows: list[dict[str, Any]]) -> list[bytes | None]:
    """Each row's source JSON without its closing brace (`{` when empty).

    None for a row that only `source` can make: keys that JavaScript reorders or
    that clash with what the forwarder sets (array indices, `@...`, `$...`),
    values that are not strings, and numbers orjson cannot write.
    """
    made: list[bytes | None] = [None] * len(rows)
    groups: dict[tuple[str, ...], list[int]] = {}
    for position, row in enumerate(rows):
        groups.setdefault(tuple(row), []).append(position)
    for keys, positions in groups.items():
        if not keys or not all(map(_plain_key, keys)):
            continue
        group = [rows[position] for position in positions]
        columns = [_fragments(key, list(map(operator.itemgetter(key), group))) for key in keys]
        for position, parts in zip(positions, zip(*columns, strict=True), strict=True):
            if None not in parts:
                made[position] = _OPEN + b"".join(parts)
    return made


def _fragments(key: str, values: list[Any]) -> list[bytes | None]:
    """`"key":value,` for each value (b"" when the field is left out), each distinct value made once."""
    try:
        name = orjson.dumps(key) + b":"
    except TypeError:  # a lone surrogate: the dict way
        name = None
    if name is None or not set(map(type, values)) <= {str}:
        return [None] * len(values)
    made = {value: _fragment(key, name, value) for value in set(values)}
    return list(map(made.__getitem__, values))


def _fragment(key: str, name: bytes, value: str) -> bytes | None:
    """What `_string_field` gives, written; the usual values (counts, words, addresses) without its tests."""
    try:
        if value.isdigit() and value.isascii() and len(value) <= _U64_DIGITS:
            return b"%b%b," % (name, (value.lstrip("0") or "0").encode())  # as int(value), then dumps
        if value and (value[0] not in _MAY_BE_NUMERIC or value.count(".") > 1) and "{" not in value:
            return b"%b%b," % (name, orjson.dumps(value))  # no number, no JSON: the string itself
        return b"".join(
            [b"%b:%b," % (orjson.dumps(field), orjson.dumps(kept)) for field, kept in _string_field(key, value)]
        )
    except TypeError:  # integers over 64 bits, lone surrogates: the dict way
        return None


def _string_field(key: str, value: str) -> list[tuple[str, Any]]:
    """The (name, value) pairs a string field puts in the source, in order."""
    if not value:
        return []
    if value.isdigit() and value.isascii():
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
