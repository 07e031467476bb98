"""The scheduled reconcile (template parameter ReconcileSchedule): the stack's log groups over a trailing window.

Each run reconciles [now - RECONCILE_FROM_HOURS, now - RECONCILE_TO_HOURS) (26 h to 2 h ago:
CloudWatch Logs retries a failing destination for up to 24 h, and the last two hours may
still be on their way) for every group the stack subscribes, by name (LOG_GROUP_NAMES) or
prefix (LOG_GROUP_PREFIXES), with the subscription's filter pattern (LOG_FILTER_PATTERN).

One group at a time, in a random order: a group that cannot be reconciled (the id schemes
differ, a side refused, the run's time ran out) is logged at ERROR and counted, and the
others go on; a run out of time leaves different groups to the next. Comparing stops
budget.RECONCILE_SEND_SECONDS before the timeout, so what was found can still be sent.

Metrics, every run (the alarm watches the sum of the last two):
LogGroupsReconciled, EventsChecked, EventsMissing, EventsRepaired,
EventsStillMissing, LogGroupsNotReconciled.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from forwarder import budget
from forwarder import metrics as emf
from forwarder.budget import Deadline
from forwarder.errors import ConfigError, ForwarderError
from forwarder.infra.cloudformation import comma_list
from forwarder.infra.subscriptions import log_groups
from forwarder.log import logger
from forwarder.tools import backfill, reconcile


def trailing_window(env: Mapping[str, str]) -> tuple[int, int]:
    """Hours ago: (from, to), RECONCILE_FROM_HOURS > RECONCILE_TO_HOURS >= 0."""
    try:
        start, end = int(env.get("RECONCILE_FROM_HOURS", "26")), int(env.get("RECONCILE_TO_HOURS", "2"))
    except ValueError:
        raise ConfigError("RECONCILE_FROM_HOURS and RECONCILE_TO_HOURS are whole hours, e.g. 26 and 2") from None
    if not start > end >= 0:
        raise ConfigError(f"RECONCILE_FROM_HOURS ({start}) must be more than RECONCILE_TO_HOURS ({end}), which is >= 0")
    return start, end


@emf.per_invocation
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    """Every chosen group over the trailing window; the metrics whatever happened, a failed run counted."""
    totals = reconcile.ReconcileReport()
    groups: list[str] = []  # filled as the run goes: the metrics count what it reached
    reconciled: list[str] = []
    failed = True
    try:
        _reconcile_groups(context, totals, groups, reconciled)
        failed = False
    finally:  # a run that failed or ran out of time counts what it left, at least 1: the alarm must see it
        done = set(reconciled)
        not_reconciled = [group for group in groups if group not in done]
        if failed and not not_reconciled:
            not_reconciled = ["(the run)"]
        emf.count(
            os.environ.get("INDEX_PREFIX", ""),
            LogGroupsReconciled=len(reconciled),
            EventsChecked=totals.events_checked,
            EventsMissing=totals.events_missing,
            EventsRepaired=totals.events_repaired,
            EventsStillMissing=totals.events_missing - totals.events_repaired,
            LogGroupsNotReconciled=len(not_reconciled),
        )
    summary = totals.as_dict() | {
        "log_groups": len(groups),
        "not_reconciled": not_reconciled[: reconcile.MAX_DIFFERING],
    }
    logger.info("reconcile report", extra={"report": summary})
    return summary


def _reconcile_groups(
    context: Any, totals: reconcile.ReconcileReport, groups: list[str], reconciled: list[str]
) -> None:
    from forwarder.handler import runtime

    run, env = runtime(), os.environ
    hours_from, hours_to = trailing_window(env)
    now = backfill.now()
    start_ms, end_ms = (backfill.epoch_ms(now - timedelta(hours=hours)) for hours in (hours_from, hours_to))
    logs = backfill.logs_client(run.settings.region)
    names_not_found: list[str] = []
    groups += log_groups(logs, comma_list(env.get("LOG_GROUP_NAMES")), comma_list(env.get("LOG_GROUP_PREFIXES")),
                         names_not_found)  # fmt: skip
    if names_not_found:
        logger.warning("named log groups not found", extra={"log_groups": names_not_found})
    random.shuffle(groups)
    bounds = reconcile.Bounds(
        compare_until=Deadline.before_answer(context, budget.RECONCILE_SEND_SECONDS),
        send_deadline=lambda: Deadline.for_invocation(context, run.settings),
    )
    for position, group in enumerate(groups):
        if bounds.compare_until is not None and bounds.compare_until.expired():
            logger.error("out of time: log groups left to the next run", extra={"left": len(groups) - position})
            return
        job = backfill.Job((group,), start_ms, end_ms, filter_pattern=env.get("LOG_FILTER_PATTERN", ""))
        try:
            totals.add(reconcile.run(job, run, logs, False, bounds))
            reconciled.append(group)
        except ForwarderError as err:
            logger.error("log group not reconciled", extra={"log_group": group, "error": str(err)})
