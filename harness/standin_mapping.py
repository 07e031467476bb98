"""The stand-in's model of an OpenSearch 2.19 index mapping: what a document is refused for.

Held to a real node by tests/test_standin_vs_real.py. What it models, as the node does:
dynamic mapping by the first value (strings to text with a `.keyword` sub-field, or to
date when they read as one), index templates' explicit types, coercion of strings into
numbers, booleans and dates the Java way (whitespace, ranges, finite float32), dotted
keys as object paths, metadata field names refused at the top level, two kinds for one
new field in one document refused at merge, and the 1,000-field limit counting
sub-fields and objects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

FIELD_LIMIT = 1000
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
DYNAMIC_TEXT = "text+keyword"  # a dynamically mapped string: text, with a keyword sub-field
# Refused inside a document, by the error type the node gives; _primary_term is refused later, by Lucene.
_MAPPED_METADATA = (
    *("_id", "_index", "_source", "_routing", "_version", "_seq_no", "_field_names", "_ignored"),
    *("_nested_path", "_data_stream_timestamp"),
)
METADATA_FIELDS = dict.fromkeys(_MAPPED_METADATA, "mapper_parsing_exception")
METADATA_FIELDS["_primary_term"] = "illegal_argument_exception"

# strict_date_optional_time, the first of dynamic_date_formats (a zone only after a time).
_ISO_DATE = re.compile(
    r"^(\d{4})-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?$"
)
_SLASH_DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")  # yyyy/MM/dd, the second
_EPOCH_MILLIS = re.compile(r"^-?\d+(?:\.\d+)?$")
# BigDecimal's grammar (Unicode digits too, as Character.digit reads them); no whitespace.
_JAVA_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
# Float.parseFloat's: ASCII digits, a type suffix, Infinity/NaN (refused later as not finite).
_JAVA_FLOAT = re.compile(r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?|Infinity|NaN)$")
_JAVA_WHITESPACE = "".join(map(chr, range(33)))  # what String.trim() strips


class Refused(Exception):
    """A document the node refuses: (error type, reason)."""

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(error_type, reason)
        self.error_type = error_type
        self.reason = reason


def from_template(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A template's `mappings.properties` as path -> kind."""
    mapping: dict[str, str] = {}
    for name, spec in properties.items():
        if "properties" in spec:
            mapping[prefix + name] = "object"
            mapping.update(from_template(spec["properties"], f"{prefix}{name}."))
        else:
            mapping[prefix + name] = spec.get("type", "object")
    return mapping


def field_count(mapping: dict[str, str]) -> int:
    return sum(2 if kind == DYNAMIC_TEXT else 1 for kind in mapping.values())


def map_document(source: dict[str, Any], mapping: dict[str, str], doc_id: str | None) -> None:
    """Add the document's new fields to `mapping`, or raise Refused (then `mapping` is to be dropped)."""
    new: dict[str, str] = {}
    _map_object(source, "", mapping, new, doc_id)
    if field_count(mapping) > FIELD_LIMIT:
        raise Refused("illegal_argument_exception", f"Limit of total fields [{FIELD_LIMIT}] has been exceeded")


def _map_object(
    source: dict[str, Any], prefix: str, mapping: dict[str, str], new: dict[str, str], doc_id: str | None
) -> None:
    for key, value in source.items():
        if not prefix and key in METADATA_FIELDS:
            raise Refused(METADATA_FIELDS[key], _parse_failure(key, key, value, doc_id))
        parts = _path_parts(key)
        for depth in range(1, len(parts)):  # a.b.c: a and a.b are objects
            parent = prefix + ".".join(parts[:depth])
            known = mapping.get(parent)
            if known is None:
                mapping[parent] = new[parent] = "object"
            elif known != "object":
                raise Refused(
                    "mapper_parsing_exception",
                    f"Could not dynamically add mapping for field [{prefix}{key}]. Existing mapping for "
                    f"[{parent}] must be of type object but found [{_type_name(known)}].",
                )
        for item in _flattened(value):
            _map_value(prefix + ".".join(parts), item, mapping, new, doc_id)


def _map_value(path: str, value: Any, mapping: dict[str, str], new: dict[str, str], doc_id: str | None) -> None:
    kind = _kind(value)
    if kind is None:
        return
    known = mapping.get(path)
    if known is None:
        mapping[path] = new[path] = kind
        known = kind
    elif path in new and known != kind:  # two kinds for a field this document brings: refused at merge
        if "object" in (known, kind):
            raise Refused(
                "illegal_argument_exception", f"can't merge a non object mapping [{path}] with an object mapping"
            )
        raise Refused(
            "illegal_argument_exception",
            f"mapper [{path}] cannot be changed from type [{_type_name(known)}] to [{_type_name(kind)}]",
        )
    if not _fits(known, value):
        if known == "object":
            raise Refused(
                "mapper_parsing_exception",
                f"object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value",
            )
        raise Refused("mapper_parsing_exception", _parse_failure(path, _type_name(known), value, doc_id))
    if isinstance(value, dict):
        _map_object(value, path + ".", mapping, new, doc_id)


def _path_parts(key: str) -> list[str]:
    """A dotted key's object path; Java's split drops trailing empty parts, any other empty one is refused."""
    if key == "":
        raise Refused("mapper_parsing_exception", "failed to parse: field name cannot be an empty string")
    parts = key.split(".")
    while parts and parts[-1] == "":
        parts.pop()
    if not parts or "" in parts:
        raise Refused("mapper_parsing_exception", f"failed to parse: field name [{key}] has an empty part")
    return parts


def _flattened(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    return [item for element in value for item in _flattened(element)]


def _kind(value: Any) -> str | None:
    """The dynamic mapping a first value makes."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict):
        return "object"
    if _is_iso_date(value):
        return "date"
    if _is_slash_date(value):
        return "date/"
    return DYNAMIC_TEXT


def _type_name(kind: str) -> str:
    return {DYNAMIC_TEXT: "text", "date/": "date"}.get(kind, kind)


def _fits(kind: str, value: Any) -> bool:
    """Whether a value goes into a field mapped as `kind` (OpenSearch coerces)."""
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, dict):
        return False
    return _ACCEPTS.get(kind, lambda _: True)(value)


def _long(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value) and LONG_MIN <= value < 2**63
    if value == "":
        return True  # an empty string is a null for numbers
    if not _JAVA_DECIMAL.match(value):
        return False
    try:
        return LONG_MIN <= Decimal(value) < 2**63
    except InvalidOperation:
        return False


def _float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if value == "":
            return True
        text = value.strip(_JAVA_WHITESPACE)
        if not _JAVA_FLOAT.match(text):
            return False
        value = float(text.rstrip("fFdD"))
    return math.isfinite(value) and abs(value) <= FLOAT32_MAX


def _boolean(value: Any) -> bool:
    return isinstance(value, bool) or value in ("true", "false", "")


def _date(value: Any, reads_as_date: Callable[[str], bool]) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True  # epoch_millis
    return reads_as_date(value) or bool(_EPOCH_MILLIS.match(value))


_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "long": _long,
    "float": _float,
    "boolean": _boolean,
    "date": lambda value: _date(value, _is_iso_date),
    "date/": lambda value: _date(value, _is_slash_date),
}


def _is_iso_date(text: str) -> bool:
    match = _ISO_DATE.match(text)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(part) if part else None for part in match.groups())
    return _valid(year or 0, month or 1, day or 1, hour or 0, minute or 0, second or 0)


def _is_slash_date(text: str) -> bool:
    match = _SLASH_DATE.match(text)
    return bool(match) and _valid(*(int(part) for part in match.groups()))


def _valid(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> bool:
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def _parse_failure(path: str, type_name: str, value: Any, doc_id: str | None) -> str:
    preview = value if isinstance(value, str) else json.dumps(value)
    return (
        f"failed to parse field [{path}] of type [{type_name}] in document with id '{doc_id}'. "
        f"Preview of field's value: '{preview[:40]}'"
    )
