"""Backfill: a log group's history through the Lambda's own pipeline, with the same `_id`s.

FilterLogEvents returns each event with its `eventId`, the id a subscription delivers.
Backfill never overwrites or doubles what live forwarding indexed: live documents may
carry what FilterLogEvents does not return (a filter pattern's extractedFields, the
system fields), and an INDEX_PATTERN on such a field would name another index. So each
page first asks OpenSearch which of its ids exist under any index of the prefix and
leaves those out, and the rest are sent with the `create` op, which refuses (409) an
_id that appeared meanwhile: both count as already_indexed.

The range is read in windows of a day, each page by page; each page becomes one
subscription-shaped payload per log stream and goes through `pipeline.forward_payload`:
filters, redaction, index pattern, safe form and dead letter all apply. After each
delivered page a checkpoint records where to go on; a resumed run re-reads at most that
page, whose documents are then already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forwarder import pipeline
from forwarder.budget import Deadline
from forwarder.delivery import bulk
from forwarder.errors import ForwarderError, NotDeliveredError
from forwarder.reports import Counts
from forwarder.sources.decode import Payload

PAGE_EVENTS = 10_000  # FilterLogEvents' most per page
# A window is read page by page before the next. The checkpoint keeps the page token, so a resume
# re-reads at most one page; the window bounds what is re-read if the token has expired meanwhile,
# and costs one call when it is empty.
WINDOW = timedelta(days=1)
PUT_REACHES_BACK = timedelta(days=14)  # PutLogEvents takes events this much older than the call, so than the group
_RELATIVE = re.compile(r"^-(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BackfillError(ForwarderError):
    """The backfill cannot start or go on: what to change is in the message."""


class _TokenRefused(BackfillError):
    """FilterLogEvents refused a saved page token (they expire)."""


def parse_time(text: str, now: datetime) -> datetime:
    """`2026-11-01`, `2026-11-01T12:00:00Z` (ISO 8601; UTC unless an offset is given), `-7d`, `-12h`, or `now`."""
    text = text.strip()
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        try:
            return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        except OverflowError:
            raise BackfillError(f"{text!r} reaches before year 1: CloudWatch Logs holds nothing older") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BackfillError(
            f"{text!r} is not a time: give ISO 8601 (2026-11-01, 2026-11-01T12:00:00Z) or -7d, -12h, -30m, now"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class BackfillReport(Counts):
    """The payloads' counts summed; events are those read from CloudWatch Logs, and already_indexed counts
    those there before their page was sent (live forwarding, an earlier run), left as they were."""

    pages: int = 0


@dataclass
class Position:
    """Where one log group's backfill stands: every event before `window_start_ms` is delivered,
    and within the window, every page before `next_token`."""

    window_start_ms: int
    next_token: str | None = None
    done: bool = False
    window_report: dict[str, int] | None = None  # the report as this window began: a window read again counts once


@dataclass
class Checkpoint:
    """The positions of a backfill's log groups, kept in a local file or in S3 after each delivered page."""

    where: str
    job: dict[str, Any]  # Job.as_dict(), its times as the first run resolved them ("-7d" stays that week)
    asked: dict[str, Any]  # the command's own words: a checkpoint of another backfill is refused
    positions: dict[str, Position] = field(default_factory=dict)
    report: BackfillReport = field(default_factory=BackfillReport)

    def save(self) -> None:
        """Written whole; BackfillError when it cannot be (checked before the first page is sent)."""
        try:
            self._write()
        except OSError as err:
            raise BackfillError(f"cannot write the checkpoint {self.where}: {err.strerror or err}") from None
        except Exception as err:  # botocore's errors, imported only where S3 is used
            if type(err).__module__.startswith("botocore"):
                raise BackfillError(f"cannot write the checkpoint {self.where}: {err}") from None
            raise

    def _write(self) -> None:
        body = json.dumps(
            {
                "job": self.job,
                "asked": self.asked,
                "positions": {group: asdict(position) for group, position in self.positions.items()},
                "report": asdict(self.report),
            },
            indent=1,
        ).encode()
        if self.where.startswith("s3://"):
            bucket, key = _s3_place(self.where)
            _s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
            return
        path = Path(self.where)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(body)
        os.replace(partial, path)  # whole or not at all, even when killed mid-write

    @classmethod
    def load(cls, where: str, job: dict[str, Any], asked: dict[str, Any]) -> Checkpoint:
        """The saved checkpoint of what was asked, with the job as first resolved; or a new one
        (nothing is written until the first page is delivered)."""
        body = _read(where)
        if body is None:
            return cls(where, job, asked)
        try:
            saved = json.loads(body)
            positions = {group: _position(value) for group, value in saved["positions"].items()}
            report = _report(saved["report"])
            Job.from_dict(saved["job"])
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BackfillError(
                f"{where} is not a backfill checkpoint ({type(err).__name__}: {err}): give another --checkpoint"
            ) from None
        if saved.get("asked") != asked:
            raise BackfillError(
                f"{where} is the checkpoint of another backfill ({saved.get('asked')}): give another --checkpoint, "
                "or the same log groups, --start, --end, --prefix and --filter-pattern"
            )
        return cls(where, saved["job"], asked, positions, report)

    @property
    def started(self) -> bool:
        return bool(self.positions)

    @property
    def finished(self) -> bool:
        return self.started and all(position.done for position in self.positions.values())

    def go_on_to(self, end_ms: int) -> None:
        """A finished range that ends at "now", run again (as from cron): from where it ended to the new end."""
        self.job = {**self.job, "end_ms": max(end_ms, self.job["end_ms"])}
        for position in self.positions.values():
            position.done = position.window_start_ms >= self.job["end_ms"]


_POSITION_KEYS = frozenset({"window_start_ms", "next_token", "done", "window_report"})
MAX_TOKEN_REFUSALS = 3  # in one window: FilterLogEvents refusing its own fresh tokens must not loop forever


def _position(saved: Any) -> Position:
    """A saved position, each field of its own type: a checkpoint edited by hand is refused, not half-read."""
    if not isinstance(saved, dict) or not {"window_start_ms", "next_token", "done"} <= set(saved) <= _POSITION_KEYS:
        raise TypeError("a position holds window_start_ms, next_token, done and window_report")
    start, token, done = saved["window_start_ms"], saved["next_token"], saved["done"]
    if type(start) is not int or not (token is None or isinstance(token, str)) or type(done) is not bool:
        raise TypeError(f"a position's types are int, string or null, bool: {saved}")
    window_report = saved.get("window_report")
    return Position(start, token, done, None if window_report is None else asdict(_report(window_report)))


def _report(saved: Any) -> BackfillReport:
    """A saved report: its known counts, each a whole number."""
    return BackfillReport(**{key: int(value) for key, value in saved.items()})


def default_checkpoint(asked: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:12]
    return f"backfill-{digest}.json"


@dataclass(frozen=True)
class Job:
    log_groups: tuple[str, ...]
    start_ms: int
    end_ms: int  # exclusive
    stream_prefix: str = ""
    filter_pattern: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"log_groups": list(self.log_groups)}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> Job:
        job = cls(**{**saved, "log_groups": tuple(saved["log_groups"])})
        if not all(isinstance(group, str) and group for group in job.log_groups) or not job.log_groups:
            raise TypeError("log_groups is a list of log group names")
        if type(job.start_ms) is not int or type(job.end_ms) is not int:
            raise TypeError("start_ms and end_ms are integers")
        return job


Progress = Callable[[int, int], None]  # (events in this page, the window's start ms): a progress bar's update


def run(
    job: Job,
    checkpoint: Checkpoint,
    runtime: pipeline.Runtime,
    logs: Any,
    rate: float | None = None,
    progress: Progress = lambda events, at_ms: None,
    owners: dict[str, str] | None = None,
    created: dict[str, int] | None = None,  # each group's creationTime (ms), where known
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillReport:
    """Every event of the job not yet delivered, page by page; raises BackfillError when a page is not delivered."""
    owners = owners or accounts(job, logs)
    started, sent_before = clock(), checkpoint.report.events
    for group in job.log_groups:
        # Nothing older than the group, less the 14 days PutLogEvents reaches back: 1970..2070 is not 36,500 calls.
        oldest = (created or {}).get(group, job.start_ms) - int(PUT_REACHES_BACK.total_seconds() * 1000)
        first_ms = max(job.start_ms, oldest)
        position = checkpoint.positions.setdefault(group, Position(min(first_ms, job.end_ms)))
        position.done = position.done or position.window_start_ms >= job.end_ms
        refusals = 0
        while not position.done:
            if position.next_token is None:
                position.window_report = asdict(checkpoint.report)
            window_end = min(position.window_start_ms + int(WINDOW.total_seconds() * 1000), job.end_ms)
            try:
                events, token = read_page(logs, job, group, position.window_start_ms, window_end, position.next_token)
            except _TokenRefused as refused:  # expired since the checkpoint: the window again, counted once
                refusals += 1
                _read_window_again(checkpoint, group, refused, refusals)
                continue
            events = _distinct(events)
            there = already_indexed(runtime, [event["eventId"] for event in events])
            page = Counts(events=len(there), already_indexed=len(there))  # the payloads count the rest
            for payload in payloads([event for event in events if event["eventId"] not in there], group, owners[group]):
                page += _deliver(payload, runtime)
            checkpoint.report = replace(checkpoint.report + page, pages=checkpoint.report.pages + 1)
            if token:
                position.next_token = token
            else:
                position.window_start_ms, position.next_token = window_end, None
                position.done = window_end >= job.end_ms
                refusals = 0
            checkpoint.save()
            progress(len(events), position.window_start_ms)
            if rate:  # at most `rate` events a second, on average since this run began
                ahead = (checkpoint.report.events - sent_before) / rate - (clock() - started)
                if ahead > 0:
                    sleep(ahead)
    return checkpoint.report


def _read_window_again(checkpoint: Checkpoint, group: str, refused: _TokenRefused, refusals: int) -> None:
    """From the window's start, with the report as it began; BackfillError past MAX_TOKEN_REFUSALS."""
    position = checkpoint.positions[group]
    if refusals > MAX_TOKEN_REFUSALS:
        raise BackfillError(
            f"{group}: FilterLogEvents refused its page token {refusals} times in the window from "
            f"{iso(position.window_start_ms)} ({refused}); "
            "the checkpoint is at that window's start: run the same command again later"
        ) from None
    if position.window_report is not None:
        checkpoint.report = BackfillReport(**position.window_report)
    position.next_token = None


def _deliver(payload: Payload, runtime: pipeline.Runtime) -> Counts:
    deadline = Deadline(runtime.settings.retry_max_seconds)
    try:
        result = pipeline.forward_payload(payload, runtime, deadline, op=bulk.CREATE)
    except NotDeliveredError as err:
        raise BackfillError(
            f"{payload.log_group}: a page was not delivered ({err.summary or err}); the checkpoint is before it: "
            "run the same command again once OpenSearch takes writes"
        ) from None
    return result if isinstance(result, Counts) else Counts()


def _distinct(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each eventId once: a page that repeats one must not count or send it twice."""
    return list({event["eventId"]: event for event in events}.values())


def already_indexed(runtime: pipeline.Runtime, ids: list[str]) -> set[str]:
    """Which of `ids` are an `_id` under any index of the prefix (`indices:data/read/search` on `<prefix>-*`).

    A search sees what was refreshed (1 s): what live forwarding writes later, `create` refuses.
    """
    if not ids or not runtime.settings.sends_ids:  # Serverless: no _id to look for (README, Backfill)
        return set()
    query = {"query": {"ids": {"values": ids}}, "size": len(ids), "_source": False}
    answer = search_prefix(runtime, query, "filter_path=hits.hits._id", "ask OpenSearch which ids exist")
    try:
        return {str(hit["_id"]) for hit in answer.get("hits", {}).get("hits", [])}
    except (TypeError, KeyError, AttributeError) as err:
        raise BackfillError(f"cannot read OpenSearch's answer on which ids exist ({err})") from None


def search_prefix(runtime: pipeline.Runtime, query: dict[str, Any], options: str, doing: str) -> dict[str, Any]:
    """A `_search` over every index of the prefix; BackfillError naming what it was for and the permission."""
    prefix = runtime.settings.index_prefix
    path = f"/{prefix}-*/_search?{options + '&' if options else ''}ignore_unavailable=true&allow_no_indices=true"
    try:
        answer = runtime.sink.request("POST", path, json.dumps(query).encode(), {"Content-Type": "application/json"})
    except ForwarderError as err:
        raise BackfillError(f"cannot {doing}: {err}") from None
    if answer.status != 200:
        raise BackfillError(
            f"cannot {doing} (HTTP {answer.status}: {answer.excerpt()[:200]}): it reads before it writes, "
            f"so it needs indices:data/read/search on {prefix}-* beside the write permissions"
        )
    try:
        parsed = json.loads(answer.body or b"{}")
    except ValueError as err:
        raise BackfillError(f"cannot read OpenSearch's answer when it tried to {doing} ({err})") from None
    return parsed if isinstance(parsed, dict) else {}


def read_page(
    logs: Any, job: Job, group: str, start_ms: int, end_ms: int, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One FilterLogEvents page of [start_ms, end_ms); botocore's adaptive retries wait out throttling."""
    request: dict[str, Any] = {
        "logGroupName": group,
        "startTime": start_ms,
        "endTime": end_ms - 1,  # the API's end is inclusive
        "limit": PAGE_EVENTS,
    }
    if job.stream_prefix:
        request["logStreamNamePrefix"] = job.stream_prefix
    if job.filter_pattern:
        request["filterPattern"] = job.filter_pattern
    if token:
        request["nextToken"] = token
    try:
        answer = _call(lambda: logs.filter_log_events(**request), f"read {group}")
    except BackfillError as err:
        if token and "InvalidParameterException" in str(err):
            raise _TokenRefused(str(err)) from None
        raise
    return answer.get("events", []), answer.get("nextToken")


def payloads(events: list[dict[str, Any]], group: str, owner: str) -> Iterator[Payload]:
    """The page as subscription payloads: one per log stream, the events in the order read."""
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        streams.setdefault(event["logStreamName"], []).append(
            {"id": event["eventId"], "timestamp": event["timestamp"], "message": event["message"]}
        )
    for stream, log_events in streams.items():
        yield Payload("DATA_MESSAGE", owner, group, stream, ["forwarder-backfill"], log_events)  # type: ignore[arg-type]


def accounts(job: Job, logs: Any) -> dict[str, str]:
    """Each log group's account: every group is checked (it exists, it may be read) before anything is sent."""
    return {group: owner for group, (owner, _) in describe(job, logs).items()}


def describe(job: Job, logs: Any) -> dict[str, tuple[str, int]]:
    """Each log group's account and creationTime (ms); every group must exist and be readable."""
    return {group: _describe(logs, group) for group in job.log_groups}


def _describe(logs: Any, group: str) -> tuple[str, int]:
    """The account the group is in (its ARN, which a subscription payload names as `owner`) and when it was made."""
    answer = _call(lambda: logs.describe_log_groups(logGroupNamePrefix=group, limit=50), f"describe {group}")
    for found in answer.get("logGroups", []):
        if found.get("logGroupName") == group:
            arn = str(found.get("arn", ""))
            created = found.get("creationTime")
            return (arn.split(":")[4] if arn.count(":") >= 5 else ""), created if isinstance(created, int) else 0
    raise BackfillError(f"log group {group!r} does not exist in this account and Region: check its name")


def is_relative(text: str) -> bool:
    """Whether a --start/--end means a time relative to each run's now."""
    return text.strip() == "now" or bool(_RELATIVE.match(text.strip()))


def _call[T](call: Callable[[], T], what: str) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
            raise BackfillError(
                f"cannot {what}: {code}: the credentials need logs:DescribeLogGroups and logs:FilterLogEvents on it"
            ) from None
        if code == "ResourceNotFoundException":
            raise BackfillError(f"cannot {what}: the log group does not exist in this account and Region") from None
        raise BackfillError(f"cannot {what}: {err}") from None
    except BotoCoreError as err:
        raise BackfillError(f"cannot {what}: {err}") from None


CONNECT_TIMEOUT = 5  # seconds


def logs_client(region: str, attempts: int = 10) -> Any:
    """CloudWatch Logs; `attempts=1` for the first call, so that an unreachable endpoint is one
    line after CONNECT_TIMEOUT, not ten adaptive retries later."""
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT, read_timeout=30, retries={"mode": "adaptive", "total_max_attempts": attempts}
    )
    return botocore.session.get_session().create_client("logs", region_name=region, config=config)


def _s3_client() -> Any:
    import botocore.session
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 5})
    return botocore.session.get_session().create_client("s3", config=config)


def _s3_place(where: str) -> tuple[str, str]:
    bucket, _, key = where.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise BackfillError(f"--checkpoint {where!r}: give s3://BUCKET/KEY or a local file")
    return bucket, key


def _read(where: str) -> bytes | None:
    if not where.startswith("s3://"):
        path = Path(where)
        try:
            return path.read_bytes() if path.exists() else None
        except OSError as err:  # a folder, no permission
            raise BackfillError(f"cannot read the checkpoint {where}: {err.strerror or err}") from None
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _s3_place(where)
    try:
        return bytes(_s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise BackfillError(f"cannot read the checkpoint {where}: {err}") from None
    except BotoCoreError as err:
        raise BackfillError(f"cannot read the checkpoint {where}: {err}") from None


def now() -> datetime:
    return datetime.now(UTC)


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601, UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
