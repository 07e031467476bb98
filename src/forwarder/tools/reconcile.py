"""Find what CloudWatch Logs holds and OpenSearch lacks, and send only that (`forwarder reconcile`).

Per log group and hour: CloudWatch's events, read with FilterLogEvents as backfill reads
them (the same ids the subscription delivered), less what INCLUDE/EXCLUDE_PATTERN drop;
OpenSearch's documents of the group, counted for every hour at once by one date_histogram.
Only where the two differ does it ask which of CloudWatch's ids are an `_id` under the
prefix, and send the rest through the pipeline with `create`, so nothing is overwritten.

It checks its assumption that FilterLogEvents' eventId is the id the subscription
delivered (AWS documents neither): in a window that differs, the ids OpenSearch holds
must be CloudWatch's. Where OpenSearch holds documents of the window but barely any
has one of CloudWatch's ids, the schemes differ, and it stops before sending anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from forwarder import pipeline
from forwarder.budget import Deadline
from forwarder.delivery import bulk
from forwarder.delivery.deadletter import EVENTS
from forwarder.errors import ForwarderError, NotDeliveredError
from forwarder.reports import Report
from forwarder.tools import backfill

WINDOW_MS = 3_600_000  # an hour: a gap's size to read again
MIN_MATCHED = 0.5  # of OpenSearch's documents in a differing window that must carry a CloudWatch id
IDS_PER_SEARCH = 10_000  # the ids one `ids` query asks about (index.max_result_window)
MAX_DIFFERING = 50  # windows listed in a scheduled run's report line (all are counted)
MAX_CALLS = 50_000  # while comparing: about 250 million events of 179 bytes (docs/performance.md, Reconcile)


class ReconcileError(ForwarderError):
    """A side could not be read, the id schemes differ, or what was missing could not be sent."""


@dataclass
class ReconcileReport:
    windows: int = 0
    windows_differing: int = 0
    events_checked: int = 0  # CloudWatch's, after the filters
    events_dead_lettered: int = 0  # in the dead letter with their reason: accounted for, not missing
    events_missing: int = 0
    events_repaired: int = 0
    calls: dict[str, int] = field(default_factory=lambda: {"FilterLogEvents": 0, "_search": 0})
    differing: list[dict[str, Any]] = field(default_factory=list)  # each window that differed, with its counts

    def add(self, other: ReconcileReport) -> None:
        """Another run's counts and calls (a scheduled run's groups, one by one)."""
        for name in ("windows", "windows_differing", "events_checked", "events_dead_lettered", "events_missing",
                     "events_repaired"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for api, calls in other.calls.items():
            self.calls[api] += calls
        self.differing += other.differing[: MAX_DIFFERING - len(self.differing)]

    @property
    def whole(self) -> bool:
        return self.events_missing == self.events_repaired

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "whole" if self.whole else "missing",
            "windows": self.windows,
            "windows_differing": self.windows_differing,
            "events_checked": self.events_checked,
            "events_dead_lettered": self.events_dead_lettered,
            "events_missing": self.events_missing,
            "events_repaired": self.events_repaired,
            "calls": self.calls,
            "differing": self.differing,
        }


@dataclass(frozen=True)
class Bounds:
    """What one run may spend before it sends anything: calls to CloudWatch Logs and OpenSearch,
    and time (a scheduled run's invocation); and what bounds each send's retries."""

    max_calls: int = MAX_CALLS
    compare_until: Deadline | None = None
    send_deadline: Callable[[], Deadline] | None = None  # None: RETRY_MAX_SECONDS for each payload


def run(
    job: backfill.Job, runtime: pipeline.Runtime, logs: Any, dry_run: bool, bounds: Bounds = Bounds()
) -> ReconcileReport:
    """Every window of every group compared first; then, unless `dry_run`, the missing events sent."""
    if runtime.settings.serverless:
        raise ReconcileError("OPENSEARCH_SERVICE=aoss: Serverless keeps no client _id, so there is nothing to match on")
    return _Reconcile(job, runtime, logs, bounds).run(dry_run)


class _Reconcile:
    def __init__(self, job: backfill.Job, runtime: pipeline.Runtime, logs: Any, bounds: Bounds) -> None:
        self.job, self.runtime, self.logs, self.bounds = job, runtime, logs, bounds
        self.report = ReconcileReport()

    def run(self, dry_run: bool) -> ReconcileReport:
        owners = {group: owner for group, (owner, _) in backfill.describe(self.job, self.logs).items()}
        missing = {group: self._compare(group) for group in self.job.log_groups}
        for group, events in missing.items():
            if events and not dry_run:  # only once every window has passed the id check
                self.report.events_repaired += self._send(events, group, owners[group])
        return self.report

    def _compare(self, group: str) -> list[dict[str, Any]]:
        """The group's missing events, window by window; the id check made where they differ."""
        job, report = self.job, self.report
        counted = self._opensearch_counts(group)
        accounted = dead_lettered_ids(self.runtime, group, job.start_ms, job.end_ms)
        sample: tuple[list[dict[str, Any]], tuple[int, int], int] | None = None  # a window OpenSearch has documents of
        missing: list[dict[str, Any]] = []
        for start in range(job.start_ms - job.start_ms % WINDOW_MS, job.end_ms, WINDOW_MS):
            window = (max(start, job.start_ms), min(start + WINDOW_MS, job.end_ms))
            expected = self._cloudwatch_events(group, window)
            report.windows += 1
            report.events_checked += len(expected)
            report.events_dead_lettered += sum(1 for event in expected if event["eventId"] in accounted)
            expected = [event for event in expected if event["eventId"] not in accounted]
            if sample is None and counted.get(start, 0):
                sample = (expected, window, counted[start])
            missing += self._missing(expected, group, window, counted.get(start, 0))
        checked = any(seen["opensearch"] for seen in report.differing if seen["log_group"] == group)
        if missing and sample is not None and not checked:
            # The differing windows held no document to check the ids on: check them where some are.
            self._check_ids(*sample, group)
        return missing

    def _missing(
        self, events: list[dict[str, Any]], group: str, window: tuple[int, int], in_opensearch: int
    ) -> list[dict[str, Any]]:
        """The window's events OpenSearch lacks, where the counts differ; ReconcileError where the id schemes do."""
        if len(events) == in_opensearch:
            return []
        found = self._check_ids(events, window, in_opensearch, group)
        missing = [event for event in events if event["eventId"] not in found]
        self.report.windows_differing += 1
        self.report.events_missing += len(missing)
        self.report.differing.append(
            {"log_group": group, "start": backfill.iso(window[0]), "cloudwatch": len(events),
             "opensearch": in_opensearch, "missing": len(missing)}
        )  # fmt: skip
        return missing

    def _check_ids(
        self, events: list[dict[str, Any]], window: tuple[int, int], in_opensearch: int, group: str
    ) -> set[str]:
        """Which of the window's CloudWatch ids are an `_id`; ReconcileError where its documents barely carry any."""
        ids = [event["eventId"] for event in events]
        found: set[str] = set()
        for first in range(0, len(ids), IDS_PER_SEARCH):
            self._spend("_search")
            found |= backfill.already_indexed(self.runtime, ids[first : first + IDS_PER_SEARCH])
        if in_opensearch and len(found) < in_opensearch * MIN_MATCHED:
            raise ReconcileError(
                f"{group}: OpenSearch holds {in_opensearch} documents from {backfill.iso(window[0])} to "
                f"{backfill.iso(window[1])}, but only {len(found)} carry one of CloudWatch's {len(ids)} event ids: "
                "the subscription's ids and FilterLogEvents' differ here, so nothing was sent "
                "(docs/delivery.md, Reconcile)"
            )
        return found

    def _cloudwatch_events(self, group: str, window: tuple[int, int]) -> list[dict[str, Any]]:
        """The window's events, each once, less those INCLUDE/EXCLUDE_PATTERN drop (they are never in OpenSearch)."""
        events: list[dict[str, Any]] = []
        token = None
        while True:
            self._spend("FilterLogEvents")
            page, token = backfill.read_page(self.logs, self.job, group, window[0], window[1], token)
            events += page
            if not token:
                break
        events = list({event["eventId"]: event for event in events}.values())
        filters = self.runtime.settings.filters
        return [event for event in events if filters.keeps(str(event.get("message", "")))]

    def _opensearch_counts(self, group: str) -> dict[int, int]:
        """The group's documents per hour under the prefix: {hour's start ms: count}, from one aggregation."""
        of_group = [{"term": {"@log_group": group}}, {"term": {"@log_group.keyword": group}}]  # with a template or not
        in_range = {"gte": self.job.start_ms, "lt": self.job.end_ms, "format": "epoch_millis"}
        query = {
            "size": 0,
            "query": {"bool": {"filter": [{"range": {"@timestamp": in_range}}], "should": of_group,
                               "minimum_should_match": 1}},
            "aggs": {"hours": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 1}}},
        }  # fmt: skip
        self._spend("_search")
        answer = backfill.search_prefix(self.runtime, query, "", f"count {group}'s documents in OpenSearch")
        buckets = answer.get("aggregations", {}).get("hours", {}).get("buckets", [])
        return {int(bucket["key"]): int(bucket["doc_count"]) for bucket in buckets}

    def _spend(self, api: str) -> None:
        """One more call while comparing, within the bounds; nothing has been sent yet when they stop it."""
        calls, bounds = self.report.calls, self.bounds
        if sum(calls.values()) >= bounds.max_calls:
            raise ReconcileError(
                f"stopped at {bounds.max_calls:,} calls to CloudWatch Logs and OpenSearch, before anything was "
                "sent: give a shorter range or fewer log groups, or a higher --max-calls"
            )
        if bounds.compare_until is not None and bounds.compare_until.expired():
            raise ReconcileError(f"out of time after {sum(calls.values()):,} calls, before anything was sent")
        calls[api] += 1

    def _send(self, events: list[dict[str, Any]], group: str, owner: str) -> int:
        """The missing events through the pipeline with `create`; how many are in OpenSearch now."""
        settings = self.runtime.settings
        deadline = self.bounds.send_deadline or (lambda: Deadline(settings.retry_max_seconds))
        repaired = 0
        for payload in backfill.payloads(events, group, owner):
            try:
                result = pipeline.forward_payload(payload, self.runtime, deadline(), bulk.CREATE)
            except NotDeliveredError as err:
                raise ReconcileError(f"{group}: missing events not delivered ({err.summary or err})") from None
            if isinstance(result, Report):
                repaired += result.indexed + result.fallback + result.already_indexed
        return repaired


def dead_lettered_ids(runtime: pipeline.Runtime, group: str, start_ms: int, end_ms: int) -> set[str]:
    """The group's event ids in the dead letter: documents filed under their index's day (a week's Monday, a
    month's first) within the range, and events that made no document, filed on the day they came, since then."""
    store = runtime.dead_letter
    if store is None:
        return set()
    first, last, today = (_day(ms) for ms in (start_ms, end_ms - 1, int(time.time() * 1000)))
    days: set[date] = set()
    for when in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        days |= {when, when - timedelta(days=when.weekday()), when.replace(day=1)}
    prefixes = [f"{store.prefix}{day:%Y/%m/%d}/" for day in sorted(days)]
    prefixes += [
        f"{store.prefix}{EVENTS}{first + timedelta(days=n):%Y/%m/%d}/" for n in range((today - first).days + 1)
    ]
    found: set[str] = set()
    for prefix in prefixes:
        for key in store.keys(prefix):
            for entry in store.read(key):
                if isinstance(entry, dict) and entry.get("log_group") == group:
                    event_id = entry.get("id") or (entry.get("event") or {}).get("id")
                    if isinstance(event_id, str):
                        found.add(event_id)
    return found


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()
