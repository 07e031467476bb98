"""Index names from INDEX_PATTERN and INDEX_DATE_FORMAT, made valid for OpenSearch.

A pattern is literal text and placeholders, starting with `{prefix}-` (so the ISM
policy and the index template, both on `<prefix>-*`, match every name) and ending
with `{date}`:

    {prefix}      INDEX_PREFIX
    {group[N]}    the N-th `/`-part of the lower-cased log group (0 is the empty part before the first `/`)
    {stream}      the log stream
    {field.PATH}  a value of the document's source by dotted path, e.g. {field.kubernetes.namespace_name}
    {account}     the event's `@aws.account` system field, else the payload's owner
    {region}      the event's `@aws.region` system field, else the function's region
    {date}        the event's day (YYYY.MM.DD), ISO week (YYYY.wWW) or month (YYYY.MM), in UTC

A placeholder without a value for an event (a missing part, field or an empty one,
an object or a list) takes MISSING, and the document is counted. The default
pattern keeps the seed's names byte for byte, short log groups included (see
index_base).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from forwarder.documents.schema import DATE_FORMATS, date_suffix
from forwarder.errors import ConfigError

DEFAULT_PATTERN = "{prefix}-{group[5]}-{group[6]}-{date}"
MISSING = "unknown"
MAX_INDEX_BYTES = 255
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_GROUP = re.compile(r"^group\[(\d{1,2})\]$")
_FIELD = re.compile(r"^field\.([^.\s]+(?:\.[^.\s]+)*)$")
_FORBIDDEN_LITERAL = re.compile(r'[\\/*?"<>| ,#:A-Z]')
_FORBIDDEN_IN_INDEX = re.compile(r'[\\/*?"<>| ,#:\ud800-\udfff]')
_EXAMPLE = "e.g. {prefix}-{field.kubernetes.namespace_name}-{date}"


def index_base(log_group: str, index_prefix: str, date_format: str = "daily") -> str:
    """The default pattern's name before `-{date}`: parts 5 and 6 of the lower-cased log group, as the reference.

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
    return valid_index_name(f"{index_prefix}-{name}", MAX_INDEX_BYTES - len(date_suffix(0, date_format)) - 1)


def valid_index_name(name: str, max_bytes: int = MAX_INDEX_BYTES) -> str:
    """Lower case, forbidden and unprintable characters as `_`, no leading `_-+`, at most `max_bytes`.

    OpenSearch takes control and format characters (a newline, U+202E) in a name, but
    they forge lines in `_cat/indices` and reach the dead letter's S3 keys.
    """
    name = _FORBIDDEN_IN_INDEX.sub("_", name.lower())
    if not name.isprintable():  # Cc, Cf, Zl, Zp, Zs other than space, unassigned: checked in C
        name = "".join(char if char.isprintable() else "_" for char in name)
    name = name.lstrip("_-+") or "unnamed"
    encoded = name.encode()
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return name


# One piece of a pattern before {date}: literal text, or a column: each document's value
# (None: no value) from the payload's facts, the sources and the events' system fields.
Column = Callable[["Facts", Sequence[dict[str, Any]], Sequence[dict[str, str]]], list[str | None]]
Piece = str | Column


@dataclass(frozen=True)
class Facts:
    """What a payload says about every event in it."""

    prefix: str
    log_group: str
    log_stream: str
    owner: str
    region: str


@dataclass(frozen=True)
class IndexPattern:
    text: str = DEFAULT_PATTERN
    date_format: str = "daily"
    pieces: tuple[Piece, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, date_format: str = "daily") -> IndexPattern:
        """Raises ConfigError naming INDEX_PATTERN (or INDEX_DATE_FORMAT) and what is wrong."""
        date_format = date_format.strip().lower() or "daily"
        if date_format not in DATE_FORMATS:
            raise ConfigError(f"INDEX_DATE_FORMAT={date_format!r} is not accepted: use daily, weekly or monthly")
        text = text.strip() or DEFAULT_PATTERN
        if not text.startswith("{prefix}-") or not text.endswith("{date}") or text.count("{date}") != 1:
            raise ConfigError(
                f"INDEX_PATTERN={text!r} is not accepted: it must start with {{prefix}}- (the ISM policy and "
                f"the index template match <prefix>-*) and end with {{date}}, {_EXAMPLE}"
            )
        pieces: list[Piece] = []
        position = 0
        body = text[: -len("{date}")]
        for match in _PLACEHOLDER.finditer(body):
            pieces += _literal(text, body[position : match.start()])
            pieces.append(_placeholder(text, match.group(1)))
            position = match.end()
        pieces += _literal(text, body[position:])
        return cls(text, date_format, tuple(pieces))

    @property
    def is_default(self) -> bool:
        return self.text == DEFAULT_PATTERN

    def names(
        self, facts: Facts, sources: Sequence[dict[str, Any]], systems: Sequence[dict[str, str]], days: Sequence[int]
    ) -> tuple[list[str], int]:
        """Each document's index name, and how many took MISSING for a placeholder.

        The values are read a column at a time, and a name is made once for each distinct
        set of values and day: a payload holds few of them.
        """
        columns = [piece(facts, sources, systems) for piece in self.pieces if not isinstance(piece, str)]
        keys: list[tuple[str | None, ...]] = list(zip(*columns, strict=True)) if columns else [()] * len(days)
        pairs = list(zip(keys, days, strict=True))
        table = {pair: self._name(*pair) for pair in set(pairs)}
        return list(map(table.__getitem__, pairs)), len(keys) - sum(map(all, keys))

    def _name(self, values: tuple[str | None, ...], day: int) -> str:
        given = iter(values)
        words = [piece if isinstance(piece, str) else next(given) or MISSING for piece in self.pieces]
        base = valid_index_name("".join(words), MAX_INDEX_BYTES - len(date_suffix(0, self.date_format)))
        return base + date_suffix(day, self.date_format)


def _literal(text: str, literal: str) -> list[Piece]:
    if "{" in literal or "}" in literal:
        raise ConfigError(f"INDEX_PATTERN={text!r} is not accepted: a brace without its pair in {literal!r}")
    found = _FORBIDDEN_LITERAL.search(literal)
    bad = found.group() if found else next((char for char in literal if not char.isprintable()), None)
    if bad:
        raise ConfigError(
            f"INDEX_PATTERN={text!r} is not accepted: {bad!r} cannot be in an index name "
            '(no upper case, \\ / * ? " < > | space , # :, control or format characters)'
        )
    return [literal] if literal else []


def _placeholder(text: str, name: str) -> Column:
    """The column of `{name}`'s values."""
    if name == "prefix":
        return lambda facts, sources, systems: [facts.prefix] * len(sources)
    if name == "stream":
        return lambda facts, sources, systems: [facts.log_stream] * len(sources)
    if name in ("account", "region"):
        key, fallback = ("@aws.account", "owner") if name == "account" else ("@aws.region", "region")
        return lambda facts, sources, systems: (
            [system.get(key) or getattr(facts, fallback) for system in systems]
            if any(systems)
            else [getattr(facts, fallback)] * len(sources)
        )
    group = _GROUP.match(name)
    if group:
        number = int(group.group(1))
        return lambda facts, sources, systems: [_part(facts.log_group, number)] * len(sources)
    path = _FIELD.match(name)
    if path:
        dotted = path.group(1)
        return lambda facts, sources, systems: _field_column(sources, dotted)
    raise ConfigError(
        f"INDEX_PATTERN={text!r} is not accepted: {{{name}}} is not a placeholder; use {{prefix}}, {{group[N]}}, "
        "{stream}, {field.PATH}, {account}, {region} and {date}"
    )


def _part(log_group: str, number: int) -> str | None:
    parts = log_group.lower().split("/")
    return parts[number] if number < len(parts) else None


def _field_column(sources: Sequence[dict[str, Any]], dotted: str) -> list[str | None]:
    """Each source's scalar at `dotted`: a key of that name, or nested objects along its parts."""
    if any(map(operator.contains, sources, repeat(dotted))):  # a flat "a.b" key somewhere: one by one
        return [_scalar(source[dotted]) if dotted in source else _walk(source, dotted) for source in sources]
    values: list[Any] = list(sources)
    for key in dotted.split("."):
        try:
            values = list(map(dict.get, values, repeat(key)))  # in C, while every value is an object
        except TypeError:
            values = [value.get(key) if isinstance(value, dict) else None for value in values]
    if set(map(type, values)) <= {str}:
        return values
    return list(map(_scalar, values))


def _walk(source: dict[str, Any], dotted: str) -> str | None:
    value: Any = source
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return _scalar(value)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # an object, a list or null names nothing


DEFAULT = IndexPattern.parse(DEFAULT_PATTERN)
