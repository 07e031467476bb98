"""What the bootstrap's index template gives every new `<prefix>-*` index: settings and mappings, in two profiles.

compatible (the default): every query and dashboard written for the blueprint's indices
keeps working. Dynamic strings stay `text` with a `.keyword` sub-field (OpenSearch's own
default), and each @-field keeps the type the template gave it, with a `.keyword`
sub-field as well, so `term` on `@log_group` and on `@log_group.keyword` both match.

compact: the smallest on disk. Dynamic strings are `keyword` only (exact match, terms
aggregations; longer than KEYWORD_IGNORE_ABOVE characters they are kept in `_source`
but not indexed), `@message` is `match_only_text` (no positions, frequencies or norms:
no scoring, and phrase queries run slower by checking `_source`), and `@id`, a copy of
`_id`, is neither indexed nor in doc values (search by `_id` instead). What it cannot
answer: full-text `match` inside JSON string fields (a `match` there is an exact term),
relevance ranking on `@message`.

Both: `best_compression` (DEFLATE instead of LZ4 for stored fields: smaller `_source`,
slower fetches of many documents), a refresh interval longer than 1 s (fewer, larger
segments; a new line is searchable that much later), one primary shard (a day of one
service's logs is far below the 10-50 GB a shard is for) and the total-fields limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from forwarder.documents import schema
from forwarder.errors import ForwarderError

PROFILES = ("compatible", "compact")
KEYWORD_IGNORE_ABOVE = 256  # OpenSearch's dynamic `.keyword`: longer strings are not indexed as a term
COMPACT_IGNORE_ABOVE = 1024  # compact keeps longer values searchable, as it has no text field beside
TOTAL_FIELDS_LIMIT = 1000  # OpenSearch's default: a document past it goes in the safe form (fallback.py)
_INTERVAL = re.compile(r"^(-1|[1-9][0-9]{0,5}(ms|s|m))$")


class IndexDesignError(ForwarderError):
    """A property of the index design the bootstrap cannot use."""


@dataclass(frozen=True)
class IndexDesign:
    profile: str = "compatible"
    shards: int = 1
    replicas: int = 1
    refresh_interval: str = "5s"

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> IndexDesign:
        """MappingProfile, IndexShards, IndexReplicas and RefreshInterval, each checked; defaults where absent."""
        profile = str(properties.get("MappingProfile", "compatible")).strip().lower() or "compatible"
        if profile not in PROFILES:
            raise IndexDesignError(f"MappingProfile={profile!r}: give compatible or compact")
        shards = _whole(properties, "IndexShards", 1, lowest=1)
        replicas = _whole(properties, "IndexReplicas", 1, lowest=0)
        interval = str(properties.get("RefreshInterval", "5s")).strip() or "5s"
        if not _INTERVAL.match(interval):
            raise IndexDesignError(f"RefreshInterval={interval!r}: give a time such as 1s, 5s or 30s (or -1 for none)")
        return cls(profile, shards, replicas, interval)

    def settings(self) -> dict[str, Any]:
        return {
            "index.codec": "best_compression",
            "index.refresh_interval": self.refresh_interval,
            "index.number_of_shards": self.shards,
            "index.number_of_replicas": self.replicas,
            "index.mapping.total_fields.limit": TOTAL_FIELDS_LIMIT,
        }

    def mappings(self) -> dict[str, Any]:
        return _compact() if self.profile == "compact" else _compatible()


def _compatible() -> dict[str, Any]:
    keyword = {"keyword": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}}
    properties: dict[str, Any] = {name: {"type": "keyword", "fields": keyword} for name in schema.KEYWORD_FIELDS}
    # @id is unique per document: doc values for it once (`@id.keyword`, as without a template), not twice.
    properties[schema.ID] = {"type": "keyword", "doc_values": False, "fields": keyword}
    properties[schema.TIMESTAMP] = {"type": "date"}
    properties[schema.MESSAGE] = {"type": "text", "fields": keyword}
    properties.update(_safe_form("text"))
    return {"properties": properties}


def _compact() -> dict[str, Any]:
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in schema.KEYWORD_FIELDS}
    properties[schema.ID] = {"type": "keyword", "index": False, "doc_values": False}  # `_id` holds it too
    properties[schema.TIMESTAMP] = {"type": "date"}
    properties[schema.MESSAGE] = {"type": "match_only_text"}
    properties.update(_safe_form("match_only_text"))
    strings = {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": COMPACT_IGNORE_ABOVE}}
    return {"dynamic_templates": [{"strings_as_keywords": strings}], "properties": properties}


def _safe_form(text_type: str) -> dict[str, Any]:
    """The safe form's fields (fallback.py), mapped up front so that an index at its field limit takes it."""
    return {schema.FIELDS_JSON: {"type": text_type}, schema.FALLBACK_REASON: {"type": text_type}}


def _whole(properties: dict[str, Any], name: str, default: int, lowest: int) -> int:
    text = str(properties.get(name, default)).strip() or str(default)
    if not text.isdigit() or int(text) < lowest:
        raise IndexDesignError(f"{name}={properties.get(name)!r}: give a whole number >= {lowest}")
    return int(text)
