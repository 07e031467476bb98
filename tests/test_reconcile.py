"""`forwarder reconcile`: CloudWatch Logs in moto's server, OpenSearch the real node, the CLI as a person runs it."""

from __future__ import annotations

import gzip
import json
import random
import time
from typing import Any

import boto3
import pytest

from forwarder import budget, handler
from forwarder import metrics as emf
from forwarder.budget import Deadline
from forwarder.delivery import bulk
from forwarder.errors import ConfigError
from forwarder.pipeline import forward_payload
from forwarder.tools import backfill, cli, scheduled_reconcile
from forwarder.tools.local import LocalContext
from forwarder.tools.reconcile import MAX_CALLS
from tests.events import emf_lines, single
from tests.helpers import RealOpenSearch

GROUP = "/aws/lambda/reconciled"
EVENTS = 300
HOUR_MS = 3_600_000
RECONCILE_METRICS = (
    "LogGroupsReconciled", "EventsChecked", "EventsMissing", "EventsRepaired", "EventsStillMissing",
    "LogGroupsNotReconciled",
)  # fmt: skip


@pytest.fixture
def cloudwatch(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's CloudWatch Logs, reached by the forwarder's own client (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", moto_server)
    return boto3.client(
        "logs", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def put_events(logs: Any, group: str = GROUP) -> list[dict[str, Any]]:
    """EVENTS lines over the three hours before the last one, as CloudWatch holds them (its ids)."""
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s-1")
    first = int(time.time() * 1000) - 4 * HOUR_MS
    lines = [{"timestamp": first + n * (3 * HOUR_MS // EVENTS), "message": f"order {n} paid"} for n in range(EVENTS)]
    logs.put_log_events(logGroupName=group, logStreamName="s-1", logEvents=lines)
    return logs.filter_log_events(logGroupName=group, limit=10_000)["events"]


def forward_live(events: list[dict[str, Any]], real: RealOpenSearch, group: str = GROUP) -> None:
    """What the subscription delivered: these events, with their ids, through the pipeline."""
    run = handler.runtime()
    for payload in backfill.payloads(events, group, "123456789012"):
        forward_payload(payload, run, Deadline(30), bulk.INDEX)
    real.refreshed()


def reconcile(capfd: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    status = cli.main(["reconcile", GROUP, "--start", "-5h", "--json", *extra])
    out, _ = capfd.readouterr()
    return status, json.loads(out.splitlines()[-1])


def test_a_gap_is_found_and_only_the_gap_is_sent(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    events = put_events(cloudwatch)
    gap = set(random.Random(36).sample(range(EVENTS), 17))
    forward_live([event for n, event in enumerate(events) if n not in gap], real_opensearch)
    assert real_opensearch.count() == EVENTS - 17

    status, dry = reconcile(capfd, "--dry-run")
    assert status == 1 and (dry["events_missing"], dry["events_repaired"]) == (17, 0)
    assert real_opensearch.count() == EVENTS - 17, "a dry run sends nothing"

    status, found = reconcile(capfd)
    assert status == 0 and found["status"] == "whole"
    assert (found["events_checked"], found["events_missing"], found["events_repaired"]) == (EVENTS, 17, 17)
    # Only the windows that differ are read for ids: one aggregation, then one ids search per such window.
    assert found["calls"]["_search"] == 1 + found["windows_differing"] <= 1 + found["windows"]
    stored = real_opensearch.sources()
    assert len(stored) == EVENTS and set(stored) == {event["eventId"] for event in events}

    status, again = reconcile(capfd)
    assert status == 0 and (again["windows_differing"], again["events_missing"]) == (0, 0)
    assert again["calls"]["_search"] == 1, "nothing differs: no ids asked for, nothing sent"


def test_dead_lettered_events_are_accounted_for_not_sent_again(
    real_opensearch: RealOpenSearch,
    cloudwatch: Any,
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    events = put_events(cloudwatch)
    forward_live(events[5:], real_opensearch)  # the first five went to the dead letter instead
    s3 = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    s3.create_bucket(Bucket="dead")
    day = time.strftime("%Y/%m/%d", time.gmtime(events[0]["timestamp"] / 1000))
    lines = [
        json.dumps({"kind": "document", "index": "x", "id": event["eventId"], "log_group": GROUP, "reason": "refused"})
        for event in events[:5]
    ]
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    s3.put_object(Bucket="dead", Key=f"dead-letter/{day}/x/one.ndjson.gz", Body=body)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("DEAD_LETTER_BUCKET", "dead")
    handler.reset_runtime()
    status, found = reconcile(capfd)
    assert status == 0 and (found["events_dead_lettered"], found["events_missing"]) == (5, 0)
    assert real_opensearch.count() == EVENTS - 5, "what the dead letter holds is not sent again"


def test_other_ids_in_opensearch_stop_it_before_anything_is_sent(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    events = put_events(cloudwatch)
    # The subscription delivered other ids than FilterLogEvents returns (a scheme AWS does not document).
    forward_live([{**event, "eventId": f"other-{n}"} for n, event in enumerate(events[:-5])], real_opensearch)
    status = cli.main(["reconcile", GROUP, "--start", "-5h"])
    _, err = capfd.readouterr()
    (line,) = err.splitlines()[-1:]
    assert status == 1 and "FilterLogEvents' differ here, so nothing was sent" in line
    assert real_opensearch.count() == EVENTS - 5


def test_other_ids_stop_it_even_where_the_differing_hour_holds_no_document(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    events = put_events(cloudwatch)
    last_hour = events[-1]["timestamp"] - events[-1]["timestamp"] % HOUR_MS
    delivered = [event for event in events if event["timestamp"] < last_hour]  # the last hour: none delivered
    forward_live([{**event, "eventId": f"other-{n}"} for n, event in enumerate(delivered)], real_opensearch)
    status = cli.main(["reconcile", GROUP, "--start", "-5h", "--quiet"])
    lines = capfd.readouterr().err.splitlines()
    assert status == 1 and len(lines) == 1 and "FilterLogEvents' differ here, so nothing was sent" in lines[0]
    assert real_opensearch.count() == len(delivered)


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["/aws/lambda/nowhere", "--start", "-5h"], {}, "does not exist"),
        ([GROUP, "--start", "-1h", "--end", "-5h"], {}, "is before --start"),
        ([GROUP, "--start", "-5h"], {"OPENSEARCH_SERVICE": "aoss"}, "Serverless keeps no client _id"),
    ],
)
def test_what_cannot_be_reconciled_is_one_line(
    real_opensearch: RealOpenSearch,
    cloudwatch: Any,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    complaint: str,
) -> None:
    cloudwatch.create_log_group(logGroupName=GROUP)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    handler.reset_runtime()
    assert cli.main(["reconcile", *args, "--quiet"]) == 1
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("forwarder: ") and complaint in lines[0]


def test_the_call_bound_stops_it_before_anything_is_sent(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    events = put_events(cloudwatch)
    forward_live(events[10:], real_opensearch)
    status = cli.main(["reconcile", GROUP, "--start", "-5h", "--max-calls", "4", "--quiet"])
    lines = capfd.readouterr().err.splitlines()
    assert (
        status == 1 and len(lines) == 1 and "stopped at 4 calls" in lines[0] and "before anything was sent" in lines[0]
    )
    assert real_opensearch.count() == EVENTS - 10
    with pytest.raises(SystemExit):
        cli.main(["reconcile", "--help"])
    assert f"default {MAX_CALLS:,}" in " ".join(capfd.readouterr().out.split()), "the help says the bound"


def scheduled_run(
    capfd: pytest.CaptureFixture[str], timeout_ms: int = 900_000
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scheduled function as Lambda runs it: its answer, and its own metrics in its EMF line (the
    repair's sends add the forwarder's, as any payload does)."""
    emf.metrics.clear_metrics()  # what forward_live counted outside an invocation
    answer = scheduled_reconcile.handler({"source": "aws.events"}, LocalContext(timeout_ms=timeout_ms))
    (line,) = emf_lines(capfd.readouterr().out)
    return answer, {name: single(line[name]) for name in RECONCILE_METRICS}


def test_the_scheduled_run_repairs_each_group_and_counts_the_group_it_cannot(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gap, scheme, unchosen = "/aws/lambda/shop-gap", "/aws/lambda/shop-other-ids", "/aws/lambda/elsewhere"
    gap_events = put_events(cloudwatch, gap)
    forward_live(gap_events[7:], real_opensearch, gap)
    scheme_events = put_events(cloudwatch, scheme)
    forward_live(
        [{**event, "eventId": f"other-{n}"} for n, event in enumerate(scheme_events[:-3])], real_opensearch, scheme
    )
    forward_live(put_events(cloudwatch, unchosen)[1:], real_opensearch, unchosen)
    for name, value in {
        "LOG_GROUP_PREFIXES": "/aws/lambda/shop-",
        "RECONCILE_FROM_HOURS": "5",
        "RECONCILE_TO_HOURS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    before = real_opensearch.count()

    answer, metrics = scheduled_run(capfd)
    assert answer["not_reconciled"] == [scheme], "a group whose ids differ stops alone; its neighbour is repaired"
    assert metrics == {
        "LogGroupsReconciled": 1, "EventsChecked": EVENTS, "EventsMissing": 7, "EventsRepaired": 7,
        "EventsStillMissing": 0, "LogGroupsNotReconciled": 1,
    }  # fmt: skip
    assert real_opensearch.count() == before + 7, "only the gap was sent: nothing of the other ids, nothing elsewhere"
    assert {event["eventId"] for event in gap_events} <= set(real_opensearch.sources())

    _, again = scheduled_run(capfd)
    assert (again["EventsMissing"], again["EventsRepaired"], again["LogGroupsNotReconciled"]) == (0, 0, 1)


def test_a_scheduled_run_out_of_time_or_failing_is_counted_for_the_alarm(
    real_opensearch: RealOpenSearch, cloudwatch: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        forward_live(put_events(cloudwatch, f"/aws/lambda/shop-{n}")[2:], real_opensearch, f"/aws/lambda/shop-{n}")
    monkeypatch.setenv("LOG_GROUP_PREFIXES", "/aws/lambda/shop-")
    before = real_opensearch.count()
    too_short = int(budget.RECONCILE_SEND_SECONDS * 1000)  # no time to compare anything
    answer, metrics = scheduled_run(capfd, too_short)
    assert (metrics["LogGroupsReconciled"], metrics["LogGroupsNotReconciled"]) == (0, 3)
    assert len(answer["not_reconciled"]) == 3 and real_opensearch.count() == before

    monkeypatch.setenv("RECONCILE_TO_HOURS", "30")
    emf.metrics.clear_metrics()
    with pytest.raises(ConfigError, match=r"RECONCILE_FROM_HOURS \(26\) must be more than RECONCILE_TO_HOURS \(30\)"):
        scheduled_reconcile.handler({}, LocalContext(timeout_ms=900_000))
    (line,) = emf_lines(capfd.readouterr().out)
    assert single(line["LogGroupsNotReconciled"]) == 1, "a run that failed raises the alarm too"
