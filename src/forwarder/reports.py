"""Where events went, one typed report: made per payload, summed by the tools, counted as metrics, said by the console.

Forwarding one event ends as a Report, a ControlMessage (nothing to send) or BadInput
(kept in the dead letter as it came). Nothing here imports the rest of the forwarder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Self

# Each count that ends an event, in the order a person reads them: its metric and what a person calls it.
_ENDS = (
    ("indexed", "Indexed", "indexed"),
    ("fallback", "Fallback", "indexed in the safe form"),
    ("already_indexed", "AlreadyIndexed", "there already, left as they were"),
    ("dead_lettered", "DeadLettered", "dead-lettered"),
    ("failed", "Failed", "not delivered"),
    ("excluded", "Excluded", "excluded by the filters"),
)
_OPTIONAL_METRICS = frozenset({"AlreadyIndexed"})  # backfill's `create` op only: no zero in every invocation


@dataclass(frozen=True)
class Counts:
    """Where the events went: excluded + indexed + fallback + already_indexed + dead_lettered + failed == events."""

    events: int = 0
    excluded: int = 0  # by INCLUDE_PATTERN / EXCLUDE_PATTERN
    indexed: int = 0  # as made
    fallback: int = 0  # in the safe form (fallback.py), after a content rejection
    dead_lettered: int = 0  # written to the dead letter with their reason
    failed: int = 0  # none of the above: the invocation fails and Lambda retries the event
    retried: int = 0  # documents re-sent after a transient failure, whatever their end
    requests: int = 0
    already_indexed: int = 0  # the `create` op (backfill): the _id was there already, left as it was

    def __add__(self, other: Counts) -> Self:
        """These counts plus another's; the rest of this report (a backfill's pages, a payload's group) as it is."""
        names = (field.name for field in dataclasses.fields(Counts))
        return dataclasses.replace(self, **{name: getattr(self, name) + getattr(other, name) for name in names})

    @property
    def status(self) -> str:
        """ok: nothing dead-lettered or failed; partial: some dead-lettered; dead_lettered: all that was
        not excluded; failed: some are neither indexed nor dead-lettered (the invocation fails)."""
        if self.failed:
            return "failed"
        if not self.dead_lettered:
            return "ok"
        return "partial" if self.indexed + self.fallback + self.already_indexed else "dead_lettered"

    def metrics(self) -> dict[str, int]:
        """The counts as CloudWatch metrics."""
        ends = {metric: getattr(self, name) for name, metric, _ in _ENDS}
        found = {"DocumentsIn": self.events, **ends, "Retried": self.retried}
        return {name: value for name, value in found.items() if value or name not in _OPTIONAL_METRICS}

    def described(self) -> str:
        """The non-zero ends for a person: `1,000 indexed, 2 dead-lettered`, or empty."""
        return ", ".join(f"{getattr(self, name):,} {label}" for name, _, label in _ENDS if getattr(self, name))

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **asdict(self)}


@dataclass(frozen=True)
class Report(Counts):
    """One payload's counts, with its log group."""

    log_group: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "log_group": self.log_group, **super().as_dict()}


@dataclass(frozen=True)
class ControlMessage:
    """CloudWatch's check that the destination is reachable: nothing to send."""

    log_group: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": "control_message"}


@dataclass(frozen=True)
class BadInput:
    """An input that could not be decoded, written to the dead letter as it came."""

    error_type: str
    reason: str
    dead_letter: str  # s3://bucket/key

    def as_dict(self) -> dict[str, Any]:
        return {"status": "dead_lettered", **asdict(self)}


Result = Report | ControlMessage | BadInput
