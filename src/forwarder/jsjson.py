"""JSON read and written as the Node reference's JSON.parse/JSON.stringify do.

orjson does the work. A few inputs that JSON.parse accepts make orjson raise:
numbers that overflow a double (JSON.parse gives Infinity, written as null),
lone UTF-16 surrogates in escapes, and integers over 64 bits when writing.
Only those take the slower standard-library path, so results stay identical.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# orjson's messages for the inputs that JSON.parse accepts but orjson does not.
_STDLIB_CAN_READ = ("infinity", "surrogate", "recursion")
_JSON_SPACE = " \t\n\r"


class _NotJson(Exception):
    pass


def _finite_or_null(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None  # JSON.stringify(Infinity) is null


def _reject_constant(name: str) -> Any:
    raise _NotJson(name)  # NaN / Infinity literals are not JSON


def loads(data: bytes | str) -> Any:
    """Parse like JSON.parse; raises ValueError on what JSON.parse rejects."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        return read_refused(data, err)


def read_refused(data: bytes | str, err: orjson.JSONDecodeError) -> Any:
    """What JSON.parse makes of `data`, which orjson refused with `err`; ValueError if it refuses too."""
    if not any(word in str(err) for word in _STDLIB_CAN_READ):
        raise err
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        return json.loads(text, parse_float=_finite_or_null, parse_constant=_reject_constant)
    except (_NotJson, RecursionError) as error:
        raise ValueError(f"not JSON: {error}") from None


def object_or_none(text: str) -> dict[str, Any] | None:
    """The parsed object when `text` is wholly valid JSON, else None (extractJson)."""
    if not text.rstrip(_JSON_SPACE).endswith("}"):
        return None  # cannot be an object: skip the parse and its exception
    try:
        value = loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def refused_object_or_none(text: str, err: orjson.JSONDecodeError) -> dict[str, Any] | None:
    """`object_or_none` for a text orjson has already refused with `err`, without parsing it again."""
    try:
        value = read_refused(text, err)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def dumps(value: Any) -> bytes:
    """Serialize compactly; falls back for lone surrogates and integers over 64 bits."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
