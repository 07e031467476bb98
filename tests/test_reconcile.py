"""`forwarder reconcile`: CloudWatch Logs in moto's server, OpenSearch the real node, the CLI as a person runs it."""

from __future__ import annotations

import gzip
import json
import random
import time
from typing import Any

import boto3
import pytest

from forwarder import handler
from forwarder.budget import Deadline
from forwarder.delivery import bulk
from forwarder.pipeline import forward_payload
from forwarder.tools import backfill, cli
from tests.helpers import RealOpenSearch

GROUP = "/aws/lambda/reconciled"
EVENTS = 300
HOUR_MS = 3_600_000


@pytest.fixture
def cloudwatch(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's CloudWatch Logs, reached by the forwarder's own client (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", moto_server)
    return boto3.client(
        "logs", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


def put_events(logs: Any) -> list[dict[str, Any]]:
    """EVENTS lines over the three hours before the last one, as CloudWatch holds them (its ids)."""
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s-1")
    first = int(time.time() * 1000) - 4 * HOUR_MS
    lines = [{"timestamp": first + n * (3 * HOUR_MS // EVENTS), "message": f"order {n} paid"} for n in range(EVENTS)]
    logs.put_log_events(logGroupName=GROUP, logStreamName="s-1", logEvents=lines)
    return logs.filter_log_events(logGroupName=GROUP, limit=10_000)["events"]


def forward_live(events: list[dict[str, Any]], real: RealOpenSearch) -> None:
    """What the subscription delivered: these events, with their ids, through the pipeline."""
    run = handler.runtime()
    for payload in backfill.payloads(events, GROUP, "123456789012"):
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
