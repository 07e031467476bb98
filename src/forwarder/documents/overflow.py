"""Bounded index names: one payload, or one execution environment, cannot fill the cluster's shards.

An INDEX_PATTERN on a field makes one index per distinct value: 1,000 tenants in one
payload made 1,000 indices, then the cluster's shard limit refused every team's writes.
A payload keeps at most MAX_INDICES_PER_PAYLOAD names (its most used ones), and an
execution environment at most MAX_INDICES_PER_ENVIRONMENT names a day for a pattern
that is not the default (with N concurrent environments, at most N times that). The
documents beyond go to `<prefix>-overflow-<date>`, with the name they would have had in
`@intended_index`, and are counted (metric IndexOverflow). Nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from forwarder.documents.document import Documents
from forwarder.documents.schema import INTENDED_INDEX, date_suffix
from forwarder.jsjson import dumps

OVERFLOW = "overflow"


@dataclass
class SeenNames:
    """The names this execution environment has sent to, for one UTC day (kept in the pipeline's Runtime)."""

    day: str = ""
    names: set[str] = field(default_factory=set)


def bounded(
    documents: Documents,
    prefix: str,
    date_format: str,
    per_payload: int,
    per_environment: int | None,
    seen: SeenNames,
    today: str,
) -> tuple[Documents, int]:
    """The documents with every name beyond the bounds moved to the overflow index; and how many moved.

    `per_environment=None`: the default pattern, whose names the subscriptions decide, is bounded per payload only.
    """
    names = documents.index_names
    if seen.day != today:
        seen.day, seen.names = today, set()
    distinct = set(names)
    fits = len(distinct) <= per_payload
    if per_environment is None:
        if fits:
            return documents, 0
    elif fits and (distinct <= seen.names or len(seen.names | distinct) <= per_environment):
        seen.names |= distinct
        return documents, 0
    kept: set[str] = set()
    for name, _ in Counter(names).most_common():  # the most used names first
        if len(kept) >= per_payload:
            break
        if per_environment is None or name in seen.names or len(seen.names) < per_environment:
            kept.add(name)
            if per_environment is not None:
                seen.names.add(name)
    suffix_length = len(date_suffix(0, date_format))
    index_names, sources, moved = list(names), list(documents.sources), 0
    for position, name in enumerate(names):
        if name not in kept:
            index_names[position] = f"{prefix}-{OVERFLOW}-{name[-suffix_length:]}"
            sources[position] = b'{"%b":%b,%b' % (INTENDED_INDEX.encode(), dumps(name), sources[position][1:])
            moved += 1
    return Documents(index_names, documents.ids, sources), moved
