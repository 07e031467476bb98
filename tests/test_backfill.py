"""`forwarder backfill`: a log group's history through the Lambda's pipeline, with live forwarding's `_id`s."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from harness.standin import Fault, StandIn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forwarder import handler, reports
from forwarder.budget import Deadline
from forwarder.tools import backfill, cli
from forwarder.tools.local import LocalContext
from tests.events import event_with
from tests.helpers import DeadLetterBucket

GROUP = "/aws/containerinsights/prod/application/payments/payments-api"
# CloudWatch Logs (and moto) refuse events older than 14 days: the history starts three days ago, at midnight.
START = (datetime.now(UTC) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
START_MS = int(START.timestamp() * 1000)
DAY = START.strftime("%Y.%m.%d")  # the daily index suffix of every event put here
HOUR_MS = 3_600_000


def put_events(logs: Any, group: str, streams: dict[str, int], spread_ms: int = 3 * HOUR_MS) -> None:
    """`count` events in each stream, spread over `spread_ms` from START (FilterLogEvents sees them all)."""
    logs.create_log_group(logGroupName=group)
    for stream, count in streams.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        events = [
            {"timestamp": START_MS + n * spread_ms // count, "message": json.dumps({"n": n, "stream": stream})}
            for n in range(count)
        ]
        for first in range(0, count, 5_000):  # PutLogEvents takes at most 10,000 a call
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[first : first + 5_000])


def all_events(logs: Any, group: str) -> list[dict[str, Any]]:
    found, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, **({"nextToken": token} if token else {}))
        found += page["events"]
        token = page.get("nextToken")
        if not token:
            return found


def backfill_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "backfill",
        GROUP,
        "--start",
        START.date().isoformat(),
        "--end",
        (START + timedelta(hours=3)).isoformat(),
        "--checkpoint",
        str(tmp_path / "checkpoint.json"),
        "--json",
        *extra,
    ]


def test_backfill_overlapping_live_forwarding_indexes_every_event_exactly_once(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path: Path, capfd
) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 120, "pod-b": 80})
    events = all_events(logs, GROUP)
    live = [e for e in events if e["logStreamName"] == "pod-a"][:50]  # what the subscription delivered
    subscription = event_with(
        *({"id": e["eventId"], "timestamp": e["timestamp"], "message": e["message"]} for e in live)
    )
    assert handler.lambda_handler(subscription, LocalContext())["indexed"] == 50
    capfd.readouterr()

    assert cli.main(backfill_args(tmp_path)) == 0
    report = json.loads(capfd.readouterr().out)
    counts = ("events", "indexed", "already_indexed", "failed", "dead_lettered")
    assert tuple(map(report.get, counts)) == (200, 150, 50, 0, 0)
    stored = forwarder_env.documents(f"mydata-payments-payments-api-{DAY}")
    assert set(stored) == {e["eventId"] for e in events}, "every event once, by its CloudWatch id"
    assert stored[live[0]["eventId"]]["@log_stream"] == "s-1", "the live document, left as live forwarding made it"
    backfilled = next(e["eventId"] for e in events if e["logStreamName"] == "pod-b")
    assert stored[backfilled]["@log_stream"] == "pod-b" and stored[backfilled]["@owner"] == "123456789012"


def live_through_a_filter_pattern(forwarder_env: StandIn, logs: Any) -> list[dict[str, Any]]:
    """Three events put in CloudWatch, delivered live as a filter pattern and emitSystemFields make them."""
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="pod-a")
    lines = [f"10.0.0.{n} tenant-{n} GET /orders 200" for n in range(3)]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="pod-a",
        logEvents=[{"timestamp": START_MS + n, "message": line} for n, line in enumerate(lines)],
    )
    events = all_events(logs, GROUP)
    live = [
        {
            "id": e["eventId"],
            "timestamp": e["timestamp"],
            "message": e["message"],
            "extractedFields": {
                "ip": e["message"].split()[0],
                "tenant": e["message"].split()[1],
                "@aws.account": "123456789012",
                "@aws.region": "us-east-1",
            },
        }
        for e in events
    ]
    assert handler.lambda_handler(event_with(*live), LocalContext())["indexed"] == 3
    return events


def test_backfill_leaves_live_documents_and_their_extracted_fields_as_they_are(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path: Path, capfd
) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    events = live_through_a_filter_pattern(forwarder_env, logs)
    before = forwarder_env.documents(f"mydata-payments-payments-api-{DAY}")
    capfd.readouterr()
    assert cli.main(backfill_args(tmp_path)) == 0
    report = json.loads(capfd.readouterr().out)
    assert (report["events"], report["indexed"], report["already_indexed"]) == (3, 0, 3)
    after = forwarder_env.documents(f"mydata-payments-payments-api-{DAY}")
    assert after == before and after[events[0]["eventId"]]["tenant"] == "tenant-0", "the live fields are kept"
    assert after[events[0]["eventId"]]["@aws.region"] == "us-east-1"


def test_backfill_through_a_pattern_on_an_extracted_field_writes_no_second_copy(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path: Path, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", "{prefix}-{field.tenant}-{date}")
    handler.reset_runtime()
    logs = boto3.client("logs", region_name=forwarder_env.region)
    live_through_a_filter_pattern(forwarder_env, logs)
    capfd.readouterr()
    assert cli.main(backfill_args(tmp_path)) == 0
    assert json.loads(capfd.readouterr().out)["already_indexed"] == 3
    assert sorted(forwarder_env.indices) == [f"mydata-tenant-{n}-{DAY}" for n in range(3)], "no ...-unknown-..."


def test_the_create_op_leaves_a_document_that_appeared_after_the_check(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket
) -> None:
    from forwarder import pipeline
    from forwarder.delivery import bulk
    from forwarder.sources.decode import Payload

    live = {"id": "e-1", "timestamp": START_MS, "message": "live", "extractedFields": {"tenant": "t"}}
    assert handler.lambda_handler(event_with(live), LocalContext())["indexed"] == 1
    read_back = {"id": "e-1", "timestamp": START_MS, "message": "live"}
    payload = Payload("DATA_MESSAGE", "123456789012", GROUP, "s-1", [], [read_back, {**read_back, "id": "e-2"}])  # type: ignore[list-item]
    run = handler.runtime()
    report = pipeline.forward_payload(payload, run, Deadline(5), op=bulk.CREATE)
    assert isinstance(report, reports.Report)
    assert (report.indexed, report.already_indexed, report.status) == (1, 1, "ok")
    assert forwarder_env.documents(f"mydata-payments-payments-api-{DAY}")["e-1"]["tenant"] == "t", "not overwritten"


def test_without_read_rights_backfill_says_which_permission_before_writing(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path: Path, capfd
) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 5})
    forwarder_env.request_fault = lambda path: Fault(status=403) if path.endswith("_search") else None
    assert cli.main(backfill_args(tmp_path)) == 1
    err = capfd.readouterr().err
    (line,) = [line for line in err.splitlines() if "BackfillError" in line]
    assert "needs indices:data/read/search on mydata-*" in line, err
    assert forwarder_env.count() == 0


def test_a_backfill_killed_mid_way_goes_on_from_its_checkpoint_and_ends_exactly_once(
    standin: StandIn, moto_server: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **standin.env(),
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": moto_server,  # botocore: AWS_ENDPOINT_URL_<service id>
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    logs = boto3.client(
        "logs", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    put_events(logs, GROUP, {"pod-a": 24_000, "pod-b": 6_000})
    command = [str(Path(sys.executable).parent / "forwarder"), *backfill_args(tmp_path, "--rate", "6000")]
    checkpoint = tmp_path / "checkpoint.json"
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (checkpoint.exists() and json.loads(checkpoint.read_text())["report"]["pages"] >= 2):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    read_before = json.loads(checkpoint.read_text())["report"]["events"]
    assert 0 < read_before < 30_000

    done = subprocess.run(command[:-2], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == 30_000 and report["indexed"] == 30_000, "the saved counts went on, none twice"
    stored = standin.documents(f"mydata-payments-payments-api-{DAY}")
    assert set(stored) == {e["eventId"] for e in all_events(logs, GROUP)}
    again = subprocess.run(command[:-2], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and json.loads(again.stdout)["pages"] == report["pages"], "done: nothing re-read"


def test_filters_redaction_and_the_index_pattern_apply_as_in_the_lambda(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path: Path, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("EXCLUDE_PATTERN", "healthz")
    monkeypatch.setenv("REDACT_EMAILS", "true")
    monkeypatch.setenv("INDEX_PATTERN", "{prefix}-{stream}-{date}")
    handler.reset_runtime()
    logs = boto3.client("logs", region_name=forwarder_env.region)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="pod-a")
    lines = ["GET /healthz 200", "user ann@example.com logged in", "order 42 paid"]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="pod-a",
        logEvents=[{"timestamp": START_MS + n, "message": line} for n, line in enumerate(lines)],
    )
    assert cli.main(backfill_args(tmp_path)) == 0
    report = json.loads(capfd.readouterr().out)
    assert (report["events"], report["excluded"], report["indexed"]) == (3, 1, 2)
    messages = sorted(doc["@message"] for doc in forwarder_env.documents(f"mydata-pod-a-{DAY}").values())
    assert messages == ["order 42 paid", "user [EMAIL] logged in"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--start", "2026-11-22", "--end", "2026-11-21"], "is before --start"),
        (["--start", "2026-11-22", "--end", "2026-11-22T00:00:00Z"], "the range is empty"),
        (["--start", "last tuesday"], "'last tuesday' is not a time"),
        (["--start", "-7days"], "'-7days' is not a time: give ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z) or -7d"),
        (["--start", "-7d", "--rate", "0"], "--rate 0.0: give a positive number"),
    ],
)
def test_a_range_or_rate_that_cannot_be_read_is_one_line(forwarder_env: StandIn, tmp_path, capfd, args, complaint):
    assert cli.main(["backfill", GROUP, *args, "--checkpoint", str(tmp_path / "c.json")]) == 1
    (line,) = capfd.readouterr().err.splitlines()
    assert line.startswith("forwarder: ") and complaint in line
    assert not (tmp_path / "c.json").exists() and forwarder_env.count() == 0


def test_an_unknown_log_group_is_named_before_anything_is_sent(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, capfd
) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 10})
    assert cli.main([*backfill_args(tmp_path)[:2], "/aws/lambda/typo", *backfill_args(tmp_path)[2:]]) == 1
    connecting, line = capfd.readouterr().err.splitlines()
    assert connecting == "forwarder: connecting to CloudWatch Logs at https://logs.us-east-1.amazonaws.com"  # moto's
    assert line == (
        "forwarder: BackfillError: log group '/aws/lambda/typo' does not exist in this account and Region: "
        "check its name"
    )
    assert forwarder_env.count() == 0 and not (tmp_path / "checkpoint.json").exists(), "nothing half-written"


def test_cloudwatch_logs_out_of_reach_is_one_line_after_saying_it_connects(
    forwarder_env: StandIn, tmp_path, capfd, monkeypatch
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", f"http://127.0.0.1:{port}")
    began = time.monotonic()
    assert cli.main(backfill_args(tmp_path)) == 1
    took = time.monotonic() - began
    connecting, line = capfd.readouterr().err.splitlines()
    assert connecting == f"forwarder: connecting to CloudWatch Logs at http://127.0.0.1:{port}"
    assert line == (
        f"forwarder: BackfillError: cannot describe {GROUP}: Could not connect to the endpoint URL: "
        f'"http://127.0.0.1:{port}/"'
    )
    assert took < backfill.CONNECT_TIMEOUT, "one attempt, not the ten adaptive retries the reading makes"
    assert forwarder_env.count() == 0 and not (tmp_path / "checkpoint.json").exists()


def test_missing_permissions_say_which_ones(forwarder_env: StandIn, tmp_path) -> None:
    """IAM's refusal, as botocore raises it (moto does not enforce IAM)."""
    logs = backfill.logs_client("us-east-1")
    stub = Stubber(logs)
    stub.add_client_error("describe_log_groups", "AccessDeniedException", "not authorized", 400)
    job = backfill.Job((GROUP,), START_MS, START_MS + HOUR_MS)
    checkpoint = backfill.Checkpoint(str(tmp_path / "c.json"), job.as_dict(), {})
    with stub, pytest.raises(backfill.BackfillError, match="logs:DescribeLogGroups and logs:FilterLogEvents"):
        backfill.run(job, checkpoint, handler.runtime(), logs)
    assert not (tmp_path / "c.json").exists()


def test_rate_bounds_the_events_per_second(forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 3_000}, spread_ms=3 * HOUR_MS)
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    job = backfill.Job((GROUP,), START_MS, START_MS + 3 * HOUR_MS)
    checkpoint = backfill.Checkpoint(str(tmp_path / "c.json"), job.as_dict(), {})
    report = backfill.run(job, checkpoint, handler.runtime(), logs, rate=500, clock=lambda: now[0], sleep=sleep)
    assert report.indexed == 3_000 and report.pages == 1
    assert sum(slept) == pytest.approx(6.0), "3,000 events at 500 a second"


def test_a_checkpoint_of_another_backfill_is_refused(forwarder_env: StandIn, tmp_path, capfd) -> None:
    other = backfill.Job(("/aws/lambda/other",), START_MS, START_MS + HOUR_MS)
    backfill.Checkpoint(
        str(tmp_path / "checkpoint.json"), other.as_dict(), {"log_groups": ["/aws/lambda/other"]}
    ).save()
    assert cli.main(backfill_args(tmp_path)) == 1
    assert "is the checkpoint of another backfill" in capfd.readouterr().err


def test_serverless_warns_that_overlap_duplicates(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, monkeypatch, capfd
) -> None:
    monkeypatch.setenv("OPENSEARCH_SERVICE", "aoss")
    handler.reset_runtime()
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 5})
    cli.main(backfill_args(tmp_path))
    assert "OPENSEARCH_SERVICE=aoss sends no _id" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
        ("2026-11-22T10:30:00Z", datetime(2026, 11, 22, 10, 30, tzinfo=UTC)),
        ("2026-11-22T10:30:00+02:00", datetime(2026, 11, 22, 8, 30, tzinfo=UTC)),
        ("-7d", datetime(2026, 11, 25, 12, tzinfo=UTC)),
        ("-90m", datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),
        ("now", datetime(2026, 12, 2, 12, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_or_relative(text: str, expected: datetime) -> None:
    assert backfill.parse_time(text, datetime(2026, 12, 2, 12, tzinfo=UTC)) == expected


def test_the_checkpoint_can_live_in_s3(forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, capfd) -> None:
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 30})
    where = f"s3://{dead_letter.name}/backfill/payments.json"
    args = [*backfill_args(tmp_path)[:-3], "--checkpoint", where, "--json"]
    assert cli.main(args) == 0
    first = json.loads(capfd.readouterr().out)
    saved = json.loads(dead_letter.s3.get_object(Bucket=dead_letter.name, Key="backfill/payments.json")["Body"].read())
    assert saved["positions"][GROUP]["done"] is True and saved["report"]["events"] == 30
    assert cli.main(args) == 0, "run again: the checkpoint says it is done"
    again = json.loads(capfd.readouterr().out)
    assert (again["events"], again["pages"]) == (first["events"], first["pages"]) == (30, 1)
    assert not (tmp_path / "checkpoint.json").exists()


def test_a_finished_relative_range_run_again_goes_on_from_where_it_ended_to_the_new_now(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, monkeypatch, capfd
) -> None:
    """As from cron: `--start -60d` run again later reads what came since, never exits 0 having skipped it."""
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 20}, spread_ms=HOUR_MS)
    monkeypatch.chdir(tmp_path)  # the default checkpoint goes into the current folder
    args = ["backfill", GROUP, "--start", "-60d", "--json"]
    assert cli.main(args) == 0
    first = json.loads(capfd.readouterr().out)
    (saved,) = tmp_path.glob("backfill-*.json")
    later = [{"timestamp": int(time.time() * 1000), "message": "after the first run"}]
    logs.put_log_events(logGroupName=GROUP, logStreamName="pod-a", logEvents=later)
    monkeypatch.setattr(backfill, "now", lambda: datetime.now(UTC) + timedelta(hours=5))  # later, another "now"
    assert cli.main(args) == 0
    captured = capfd.readouterr()
    again = json.loads(captured.out)
    assert "going on from backfill-" in captured.err
    assert again["start"] == first["start"] and again["end"] > first["end"]
    assert (first["events"], first["indexed"], again["events"], again["indexed"]) == (20, 20, 21, 21)
    assert list(tmp_path.glob("backfill-*.json")) == [saved]


def test_an_expired_page_token_in_the_checkpoint_reads_its_window_again(forwarder_env: StandIn, tmp_path) -> None:
    logs = backfill.logs_client("us-east-1")
    stub = Stubber(logs)
    stub.add_client_error("filter_log_events", "InvalidParameterException", "The specified nextToken is expired", 400)
    event = {"logStreamName": "pod-a", "timestamp": START_MS, "message": "again", "eventId": "e-1"}
    stub.add_response("filter_log_events", {"events": [event]})
    job = backfill.Job((GROUP,), START_MS, START_MS + HOUR_MS)
    checkpoint = backfill.Checkpoint(str(tmp_path / "c.json"), job.as_dict(), {})
    checkpoint.positions[GROUP] = backfill.Position(START_MS, next_token="stale")
    with stub:
        report = backfill.run(job, checkpoint, handler.runtime(), logs, owners={GROUP: "123456789012"})
    assert report.indexed == 1 and set(forwarder_env.documents(f"mydata-payments-payments-api-{DAY}")) == {"e-1"}


class OnePage:
    """FilterLogEvents answering one page: the property below is about what is sent, not about reading."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        return {"events": self.events}


@pytest.mark.parametrize("pattern", ["", "{prefix}-{field.tenant}-{date}"], ids=["default", "on-an-extracted-field"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    live=st.lists(st.booleans(), min_size=1, max_size=12),
    fields=st.lists(st.sampled_from([None, "a", "b"]), min_size=12, max_size=12),
    repeated=st.integers(0, 3),
)
def test_backfill_never_overwrites_or_doubles_whatever_live_forwarding_sent(
    forwarder_env: StandIn, monkeypatch, pattern: str, live: list[bool], fields: list[str | None], repeated: int
) -> None:
    monkeypatch.setenv("INDEX_PATTERN", pattern)
    handler.reset_runtime()
    forwarder_env.indices.clear()
    events = [
        {"eventId": f"e-{n}", "logStreamName": "pod-a", "timestamp": START_MS + n, "message": f"line {n}"}
        for n in range(len(live))
    ]
    delivered = [
        {"id": e["eventId"], "timestamp": e["timestamp"], "message": e["message"]}
        | ({"extractedFields": {"tenant": tenant}} if tenant else {})
        for e, sent, tenant in zip(events, live, fields, strict=False)
        if sent
    ]
    if delivered:
        handler.lambda_handler(event_with(*delivered), LocalContext())
    before = {doc_id: (index, doc) for index, docs in forwarder_env.indices.items() for doc_id, doc in docs.items()}
    page = OnePage(events + events[:repeated])  # an event read twice is sent and counted once
    job = backfill.Job((GROUP,), START_MS, START_MS + HOUR_MS)
    checkpoint = backfill.Checkpoint("never-saved.json", job.as_dict(), {})
    monkeypatch.setattr(backfill.Checkpoint, "save", lambda self: None)
    report = backfill.run(job, checkpoint, handler.runtime(), page, owners={GROUP: "123456789012"})
    after: dict[str, list[tuple[str, Any]]] = {}
    for index, docs in forwarder_env.indices.items():
        for doc_id, doc in docs.items():
            after.setdefault(doc_id, []).append((index, doc))
    assert sorted(after) == sorted(e["eventId"] for e in events), "every event, none lost"
    assert all(len(copies) == 1 for copies in after.values()), "no id under two indices"
    assert all(after[doc_id] == [kept] for doc_id, kept in before.items()), "a live document was overwritten"
    assert (report.events, report.indexed, report.already_indexed) == (
        len(events),
        len(events) - len(before),
        len(before),
    )


def test_a_start_before_year_one_is_one_line(forwarder_env: StandIn, tmp_path, capfd) -> None:
    assert cli.main([*backfill_args(tmp_path)[:2], "--start", "-9999999d", "--json"]) == 1
    assert "'-9999999d' reaches before year 1" in capfd.readouterr().err


def saved_checkpoint(tmp_path: Path, capfd) -> dict[str, Any]:
    logs = boto3.client("logs", region_name="us-east-1")
    put_events(logs, GROUP, {"pod-a": 3})
    assert cli.main(backfill_args(tmp_path)) == 0
    capfd.readouterr()
    return json.loads((tmp_path / "checkpoint.json").read_text())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda saved: saved.update(positions=[1, 2]),
        lambda saved: saved["positions"][GROUP].update(window_start_ms="0"),
        lambda saved: saved["positions"][GROUP].update(done="yes"),
        lambda saved: saved["job"].pop("log_groups"),
        lambda saved: saved["report"].update(events="many"),
    ],
    ids=["positions-a-list", "window-start-a-string", "done-a-string", "no-log-groups", "a-count-a-string"],
)
def test_a_tampered_checkpoint_is_one_line_naming_it(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, capfd, tamper
) -> None:
    saved = saved_checkpoint(tmp_path, capfd)
    tamper(saved)
    (tmp_path / "checkpoint.json").write_text(json.dumps(saved))
    assert cli.main(backfill_args(tmp_path)) == 1
    (line,) = [line for line in capfd.readouterr().err.splitlines() if "BackfillError" in line]
    assert "checkpoint.json is not a backfill checkpoint" in line


@pytest.mark.parametrize("where", ["a-folder", "no-such-folder/checkpoint.json"])
def test_a_checkpoint_that_cannot_be_read_or_written_is_one_line_before_anything_is_sent(
    forwarder_env: StandIn, dead_letter: DeadLetterBucket, tmp_path, capfd, where
) -> None:
    (tmp_path / "a-folder").mkdir()
    logs = boto3.client("logs", region_name=forwarder_env.region)
    put_events(logs, GROUP, {"pod-a": 1000})
    args = [*backfill_args(tmp_path)[:-3], "--checkpoint", str(tmp_path / where), "--json"]
    assert cli.main(args) == 1
    (line,) = [line for line in capfd.readouterr().err.splitlines() if "BackfillError" in line]
    assert f"the checkpoint {tmp_path / where}" in line and forwarder_env.count() == 0


class RefusingTokens:
    """FilterLogEvents whose every page has a token, and which refuses every token: it must not loop forever."""

    def __init__(self) -> None:
        self.calls = 0

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls += 1
        if "nextToken" in request:
            raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": "bad token"}}, "Filter")
        event = {"logStreamName": "pod-a", "timestamp": START_MS, "message": "m", "eventId": "e-1"}
        return {"events": [event], "nextToken": "t"}


def test_a_page_token_refused_on_every_call_stops_with_one_line_and_counts_once(
    forwarder_env: StandIn, tmp_path
) -> None:
    logs = RefusingTokens()
    job = backfill.Job((GROUP,), START_MS, START_MS + HOUR_MS)
    checkpoint = backfill.Checkpoint(str(tmp_path / "c.json"), job.as_dict(), {})
    with pytest.raises(backfill.BackfillError, match="refused its page token 4 times"):
        backfill.run(job, checkpoint, handler.runtime(), logs, owners={GROUP: "123456789012"})
    assert logs.calls == 8 and checkpoint.report.events <= 1, "the window re-read is counted once"
    assert forwarder_env.count() == 1


class CountingCalls:
    def __init__(self) -> None:
        self.windows: list[int] = []

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.windows.append(request["startTime"])
        return {"events": []}


def test_a_range_from_1970_reads_only_from_the_groups_creation_less_14_days(forwarder_env: StandIn, tmp_path) -> None:
    logs = CountingCalls()
    job = backfill.Job((GROUP,), 0, START_MS + HOUR_MS)
    checkpoint = backfill.Checkpoint(str(tmp_path / "c.json"), job.as_dict(), {})
    created = START_MS - 86_400_000  # a day before START
    backfill.run(job, checkpoint, handler.runtime(), logs, owners={GROUP: "1"}, created={GROUP: created})
    assert logs.windows[0] == created - 14 * 86_400_000 and len(logs.windows) == 16
