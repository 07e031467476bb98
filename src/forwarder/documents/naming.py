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
transform.index_base).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from forwarder.errors import ConfigError

DEFAULT_PATTERN = "{prefix}-{group[5]}-{group[6]}-{date}"
DATE_FORMATS = ("daily", "weekly", "monthly")
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
    """Lower case, forbidden characters as `_`, no leading `_-+`, at most `max_bytes`."""
    name = _FORBIDDEN_IN_INDEX.sub("_", name.lower()).lstrip("_-+") or "unnamed"
    encoded = name.encode()
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", errors="ignore")
    return name


def date_suffix(day: int, date_format: str) -> str:
    """The `{date}` of a day (days since 1970-01-01, UTC) in the chosen granularity."""
    date = datetime.fromtimestamp(day * 86_400, UTC)
    if date_format == "weekly":
        year, week, _ = date.isocalendar()  # the ISO week's own year: 2026-12-31 is in 2026.w53
        return f"{year}.w{week:02d}"
    if date_format == "monthly":
        return f"{date.year}.{date.month:02d}"
    return f"{date.year}.{date.month:02d}.{date.day:02d}"


# One piece of a pattern before {date}: literal text, or a function of (payload facts, source, system fields).
Piece = str | Callable[["Facts", dict[str, Any], dict[str, str]], str | None]


@dataclass(frozen=True)
class Facts:
    """What a payload says about every event in it."""

    prefix: str
    log_group: str
    log_stream: str
    owner: str
    region: str

    @property
    def group_parts(self) -> list[str]:
        return self.log_group.lower().split("/")


@dataclass(frozen=True)
class IndexPattern:
    text: str = DEFAULT_PATTERN
    date_format: str = "daily"
    pieces: tuple[Piece, ...] = field(default=(), compare=False, repr=False)
    per_document: bool = False  # a piece reads the source or an event's system fields

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
        per_document = False
        position = 0
        body = text[: -len("{date}")]
        for match in _PLACEHOLDER.finditer(body):
            pieces += _literal(text, body[position : match.start()])
            piece, reads_events = _placeholder(text, match.group(1))
            pieces.append(piece)
            per_document |= reads_events
            position = match.end()
        pieces += _literal(text, body[position:])
        return cls(text, date_format, tuple(pieces), per_document)

    @property
    def is_default(self) -> bool:
        return self.text == DEFAULT_PATTERN

    def base(self, facts: Facts, source: dict[str, Any], system: dict[str, str]) -> tuple[str, bool]:
        """The name before `{date}`, valid, and whether a placeholder took MISSING."""
        words, defaulted = [], False
        for piece in self.pieces:
            if isinstance(piece, str):
                words.append(piece)
                continue
            value = piece(facts, source, system)
            if not value:
                value, defaulted = MISSING, True
            words.append(value)
        return valid_index_name("".join(words), MAX_INDEX_BYTES - len(date_suffix(0, self.date_format))), defaulted

    def names(
        self, facts: Facts, sources: Sequence[dict[str, Any]], systems: Sequence[dict[str, str]], days: Sequence[int]
    ) -> tuple[list[str], int]:
        """Each document's index name, and how many took MISSING for a placeholder."""
        suffixes: dict[int, str] = {}
        named: dict[tuple[str, int], str] = {}
        no_source: dict[str, Any] = {}
        constant = None if self.per_document else self.base(facts, no_source, {})
        out, defaulted = [], 0
        for position, day in enumerate(days):
            base, missing = constant or self.base(facts, sources[position], systems[position])
            defaulted += missing
            name = named.get((base, day))
            if name is None:
                suffix = suffixes.get(day) or suffixes.setdefault(day, date_suffix(day, self.date_format))
                name = named[(base, day)] = f"{base}{suffix}"
            out.append(name)
        return out, defaulted


def _literal(text: str, literal: str) -> list[Piece]:
    if "{" in literal or "}" in literal:
        raise ConfigError(f"INDEX_PATTERN={text!r} is not accepted: a brace without its pair in {literal!r}")
    bad = _FORBIDDEN_LITERAL.search(literal)
    if bad:
        raise ConfigError(
            f"INDEX_PATTERN={text!r} is not accepted: {bad.group()!r} cannot be in an index name "
            '(no upper case, \\ / * ? " < > | space , # :)'
        )
    return [literal] if literal else []


def _placeholder(text: str, name: str) -> tuple[Piece, bool]:
    """The piece for `{name}`, and whether it reads each event rather than the payload."""
    if name == "prefix":
        return (lambda facts, source, system: facts.prefix), False
    if name == "stream":
        return (lambda facts, source, system: facts.log_stream), False
    if name == "account":
        return (lambda facts, source, system: system.get("@aws.account") or facts.owner), True
    if name == "region":
        return (lambda facts, source, system: system.get("@aws.region") or facts.region), True
    group = _GROUP.match(name)
    if group:
        number = int(group.group(1))
        return (lambda facts, source, system: _part(facts.group_parts, number)), False
    path = _FIELD.match(name)
    if path:
        keys = tuple(path.group(1).split("."))
        return (lambda facts, source, system: _field(source, path.group(1), keys)), True
    raise ConfigError(
        f"INDEX_PATTERN={text!r} is not accepted: {{{name}}} is not a placeholder; use {{prefix}}, {{group[N]}}, "
        "{stream}, {field.PATH}, {account}, {region} and {date}"
    )


def _part(parts: list[str], number: int) -> str | None:
    return parts[number] if number < len(parts) else None


def _field(source: dict[str, Any], dotted: str, keys: tuple[str, ...]) -> str | None:
    """A scalar at `dotted`: a key of that name, or nested objects along its parts."""
    value: Any = source.get(dotted) if dotted in source else source
    if dotted not in source:
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # an object, a list or null names nothing


DEFAULT = IndexPattern.parse(DEFAULT_PATTERN)
