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


def run(job: backfill.Job, runtime: pipeline.Runtime, logs: Any, dry_run: bool) -> ReconcileReport:
    """Every window of every group compared first; then, unless `dry_run`, the missing events sent."""
    if runtime.settings.serverless:
        raise ReconcileError("OPENSEARCH_SERVICE=aoss: Serverless keeps no client _id, so there is nothing to match on")
    owners = {group: owner for group, (owner, _) in backfill.describe(job, logs).items()}
    report = ReconcileReport()
    missing: dict[str, list[dict[str, Any]]] = {}
    for group in job.log_groups:
        counted = _opensearch_counts(runtime, group, job.start_ms, job.end_ms, report)
        accounted = dead_lettered_ids(runtime, group, job.start_ms, job.end_ms)
        sample: tuple[list[dict[str, Any]], tuple[int, int], int] | None = None  # a window OpenSearch has documents of
        for start in range(job.start_ms - job.start_ms % WINDOW_MS, job.end_ms, WINDOW_MS):
            window = (max(start, job.start_ms), min(start + WINDOW_MS, job.end_ms))
            expected = _cloudwatch_events(job, runtime, logs, group, window, report)
            report.windows += 1
            report.events_checked += len(expected)
            report.events_dead_lettered += sum(1 for event in expected if event["eventId"] in accounted)
            expected = [event for event in expected if event["eventId"] not in accounted]
            if sample is None and counted.get(start, 0):
                sample = (expected, window, counted[start])
            missing.setdefault(group, []).extend(
                _missing(runtime, expected, group, window, counted.get(start, 0), report)
            )
        checked = any(seen["opensearch"] for seen in report.differing if seen["log_group"] == group)
        if missing.get(group) and sample is not None and not checked:
            # The differing windows held no document to check the ids on: check them where some are.
            _check_ids(runtime, *sample, group, report)
    for group, events in missing.items():
        if events and not dry_run:  # only once every window has passed the id check
            report.events_repaired += _send(runtime, events, group, owners[group])
    return report


def _missing(
    runtime: pipeline.Runtime,
    events: list[dict[str, Any]],
    group: str,
    window: tuple[int, int],
    in_opensearch: int,
    report: ReconcileReport,
) -> list[dict[str, Any]]:
    """The window's events OpenSearch lacks, where the counts differ; ReconcileError where the id schemes do."""
    if len(events) == in_opensearch:
        return []
    found = _check_ids(runtime, events, window, in_opensearch, group, report)
    missing = [event for event in events if event["eventId"] not in found]
    report.windows_differing += 1
    report.events_missing += len(missing)
    report.differing.append(
        {"log_group": group, "start": backfill.iso(window[0]), "cloudwatch": len(events), "opensearch": in_opensearch,
         "missing": len(missing)}
    )  # fmt: skip
    return missing


def _check_ids(
    runtime: pipeline.Runtime,
    events: list[dict[str, Any]],
    window: tuple[int, int],
    in_opensearch: int,
    group: str,
    report: ReconcileReport,
) -> set[str]:
    """Which of the window's CloudWatch ids are an `_id`; ReconcileError where its documents barely carry any."""
    ids = [event["eventId"] for event in events]
    found: set[str] = set()
    for first in range(0, len(ids), IDS_PER_SEARCH):
        report.calls["_search"] += 1
        found |= backfill.already_indexed(runtime, ids[first : first + IDS_PER_SEARCH])
    if in_opensearch and len(found) < in_opensearch * MIN_MATCHED:
        raise ReconcileError(
            f"{group}: OpenSearch holds {in_opensearch} documents from {backfill.iso(window[0])} to "
            f"{backfill.iso(window[1])}, but only {len(found)} carry one of CloudWatch's {len(ids)} event ids: "
            "the subscription's ids and FilterLogEvents' differ here, so nothing was sent (docs/delivery.md, Reconcile)"
        )
    return found


def _cloudwatch_events(
    job: backfill.Job,
    runtime: pipeline.Runtime,
    logs: Any,
    group: str,
    window: tuple[int, int],
    report: ReconcileReport,
) -> list[dict[str, Any]]:
    """The window's events, each once, less those INCLUDE/EXCLUDE_PATTERN drop (they are never in OpenSearch)."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        report.calls["FilterLogEvents"] += 1
        page, token = backfill.read_page(logs, job, group, window[0], window[1], token)
        events += page
        if not token:
            break
    events = list({event["eventId"]: event for event in events}.values())
    filters = runtime.settings.filters
    return [event for event in events if filters.keeps(str(event.get("message", "")))]


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


def _opensearch_counts(
    runtime: pipeline.Runtime, group: str, start_ms: int, end_ms: int, report: ReconcileReport
) -> dict[int, int]:
    """The group's documents per hour under the prefix: {hour's start ms: count}, from one aggregation."""
    of_group = [{"term": {"@log_group": group}}, {"term": {"@log_group.keyword": group}}]  # with a template or not
    query = {
        "size": 0,
        "query": {
            "bool": {
                "filter": [{"range": {"@timestamp": {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}}],
                "should": of_group,
                "minimum_should_match": 1,
            }
        },
        "aggs": {"hours": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "min_doc_count": 1}}},
    }
    report.calls["_search"] += 1
    answer = backfill.search_prefix(runtime, query, "", f"count {group}'s documents in OpenSearch")
    buckets = answer.get("aggregations", {}).get("hours", {}).get("buckets", [])
    return {int(bucket["key"]): int(bucket["doc_count"]) for bucket in buckets}


def _send(runtime: pipeline.Runtime, events: list[dict[str, Any]], group: str, owner: str) -> int:
    """The missing events through the pipeline with `create`; how many are in OpenSearch now."""
    repaired = 0
    for payload in backfill.payloads(events, group, owner):
        try:
            result = pipeline.forward_payload(
                payload, runtime, Deadline(runtime.settings.retry_max_seconds), bulk.CREATE
            )
        except NotDeliveredError as err:
            raise ReconcileError(f"{group}: missing events not delivered ({err.summary or err})") from None
        if isinstance(result, Report):
            repaired += result.indexed + result.fallback + result.already_indexed
    return repaired
