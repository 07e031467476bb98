"""Re-send what was not delivered: dead-letter objects in S3, or the on-failure queue in SQS.

An S3 entry is removed only once its document is indexed (as made, or in its safe
form); what still fails stays in its object with the new reason and the attempts
added up. An SQS message (Lambda's on-failure record of an event, or the bare
event) goes through the same code as the Lambda, dead letter included, and is
deleted only when nothing in it was left undelivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from forwarder import jsjson, pipeline
from forwarder.bounded import call_within
from forwarder.budget import Deadline
from forwarder.delivery.deadletter import DeadLetterStore
from forwarder.delivery.send import Undelivered, deliver
from forwarder.documents.document import Document, Documents
from forwarder.errors import DeadLetterError, ForwarderError, MissingAwslogsDataError, PayloadError, QueueError
from forwarder.log import logger
from forwarder.pipeline import Runtime
from forwarder.sources import decode

SQS_BATCH = 10  # the most one ReceiveMessage returns
SQS_CALL_SECONDS = 30.0  # the whole of one SQS call, retries included: replay has no deadline of its own
MAX_KEPT_LISTED = 20  # objects or messages named in the report, with their reason


@dataclass
class ReplayReport:
    entries: int = 0  # documents (S3) or messages (SQS) read
    indexed: int = 0  # S3: indexed as made or in the safe form; SQS: messages fully delivered
    still_failing: int = 0
    removed: int = 0  # objects deleted (S3) or messages deleted (SQS)
    unreadable: int = 0  # S3 objects that could not be read at all: kept as they are
    kept: list[dict[str, Any]] = field(default_factory=list)  # what stays, where, and why (the first reason)
    kept_not_listed: int = 0

    def keep(self, where: str, reason: str, entries: int = 1) -> None:
        if len(self.kept) < MAX_KEPT_LISTED:
            self.kept.append({"where": where, "entries": entries, "reason": reason})
        else:
            self.kept_not_listed += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "indexed": self.indexed,
            "still_failing": self.still_failing,
            "removed": self.removed,
            "unreadable": self.unreadable,
            "kept": self.kept,
            "kept_not_listed": self.kept_not_listed,
        }


Progress = Callable[[Iterable[Any]], Iterable[Any]]  # e.g. tqdm


def replay_s3(store: DeadLetterStore, run: Runtime, progress: Progress = iter) -> ReplayReport:
    """Every object under the prefix; one that cannot be read is kept as it is, counted, and named."""
    report = ReplayReport()
    for key in progress(list(store.keys())):
        try:
            entries = store.read(key)
        except DeadLetterError as err:
            report.unreadable += 1
            report.keep(f"s3://{store.bucket}/{key}", f"not readable, kept as it is: {err}", 0)
            logger.error("dead-letter object not readable: kept as it is", extra={"key": key, "reason": str(err)})
            continue
        remaining = _replay_entries(entries, run)
        report.entries += len(entries)
        report.still_failing += len(remaining)
        report.indexed += len(entries) - len(remaining)
        if remaining:
            report.keep(f"s3://{store.bucket}/{key}", str(remaining[0].get("reason", "")), len(remaining))
        if remaining != entries:
            store.replace(key, remaining)
            if not remaining:
                report.removed += 1
    return report


def _replay_entries(entries: list[dict[str, Any]], run: Runtime) -> list[dict[str, Any]]:
    """Deliver the entries of one object; returns those still undelivered, updated."""
    documents: list[Document] = []
    sent: list[dict[str, Any]] = []  # the entry of each document, by position
    sources: dict[tuple[str, str], bytes] = {}
    twins: dict[tuple[str, str], list[dict[str, Any]]] = {}
    remaining: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            remaining.append({"kind": "unreadable", "line": entry, "reason": "a line that is not an object"})
            continue
        if entry.get("kind") == "payload":
            remaining.extend(_replay_payload(entry, run))
            continue
        if entry.get("kind") == "event":
            remaining.extend(_replay_event(entry, run))
            continue
        if entry.get("kind") == "unreadable":  # a line kept as it was read: nothing to send
            remaining.append(entry)
            continue
        try:
            document = Document(str(entry["index"]), str(entry["id"]), jsjson.dumps(entry["source"]))
        except (KeyError, TypeError):  # edited by hand, or not ours: kept, and said so
            remaining.append({**entry, "reason": "not a dead-letter document entry: index, id and source expected"})
            continue
        known = sources.setdefault((document.index_name, document.id), document.source)
        if known != document.source:  # one _id, two sources: sending both would keep only the last
            remaining.append({**entry, "reason": "another entry has the same index and id and another source"})
            continue
        if known is not document.source:  # the same document twice: sent once, kept with it if it fails
            twins.setdefault((document.index_name, document.id), []).append(entry)
            continue
        documents.append(document)
        sent.append(entry)
    outcome = deliver(Documents.of(documents), run.sink, run.settings, Deadline(run.settings.retry_max_seconds))
    for item in [*outcome.dead, *outcome.pending]:
        key = (item.document.index_name, item.document.id)
        remaining.extend(_updated(entry, item) for entry in [sent[item.position], *twins.get(key, [])])
    return remaining


def _replay_payload(entry: dict[str, Any], run: Runtime) -> list[dict[str, Any]]:
    """A raw event that could not be decoded: decode again (a limit may have been raised).

    The filters and redaction apply as they do in the Lambda.
    """
    data = entry.get("data")
    try:
        if not isinstance(data, str):
            raise MissingAwslogsDataError("the payload entry has no data string: nothing to decode")
        documents = pipeline.prepare(data, run.settings).documents
    except PayloadError as err:
        return [{**entry, "reason": str(err), "error_type": type(err).__name__}]
    outcome = deliver(documents, run.sink, run.settings, Deadline(run.settings.retry_max_seconds))
    if not outcome.dead and not outcome.pending:
        return []
    return [{**entry, "reason": f"decoded, but {len(outcome.dead) + len(outcome.pending)} documents not indexed"}]


def _replay_event(entry: dict[str, Any], run: Runtime) -> list[dict[str, Any]]:
    """A log event that made no document: made again (it may have been mended by hand), else kept with why."""
    owner, log_group, log_stream = (entry.get(key) for key in ("owner", "log_group", "log_stream"))
    if not (isinstance(owner, str) and isinstance(log_group, str) and isinstance(log_stream, str)):
        return [{**entry, "reason": "not a dead-letter event entry: owner, log_group and log_stream expected"}]
    event: Any = entry.get("event")  # checked as any log event is, by the transform
    payload = decode.Payload(decode.DATA_MESSAGE, owner, log_group, log_stream, [], [event])
    prepared = pipeline.prepare_payload(payload, run.settings)
    if prepared.counts.rejected:
        return [{**entry, "reason": prepared.counts.rejected[0].reason.replace("logEvents[0]", "the event")}]
    outcome = deliver(prepared.documents, run.sink, run.settings, Deadline(run.settings.retry_max_seconds))
    if outcome.dead or outcome.pending:
        problem = [*outcome.dead, *outcome.pending][0]
        return [{**entry, "reason": f"made, but not indexed: {problem.error_type}: {problem.reason}"}]
    return []


def _updated(entry: dict[str, Any], item: Undelivered) -> dict[str, Any]:
    return {
        **entry,
        "status": item.status,
        "error_type": item.error_type,
        "reason": item.reason,
        "attempts": int(entry.get("attempts", 0)) + item.attempts,
    }


def replay_sqs(queue_url: str, run: Runtime, sqs: Any = None, progress: Progress = iter) -> ReplayReport:
    """Every message in the queue, once; one not fully delivered stays, to come back after its visibility timeout."""
    sqs = sqs or _sqs_client(run.settings.region)
    report = ReplayReport()
    seen: set[str] = set()
    while True:
        answer = _sqs_call(
            partial(sqs.receive_message, QueueUrl=queue_url, MaxNumberOfMessages=SQS_BATCH, WaitTimeSeconds=1),
            f"receive from {queue_url}",
        )
        messages = [message for message in answer.get("Messages", []) if message["MessageId"] not in seen]
        if not messages:  # empty, or only messages that already failed in this run
            return report
        for message in progress(messages):
            seen.add(message["MessageId"])
            report.entries += 1
            problem = _replay_message(message["Body"], run)
            if problem is None:
                # Not deleted (the call fails): it comes back and is re-sent, overwriting itself by _id.
                _sqs_call(
                    partial(sqs.delete_message, QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"]),
                    f"delete a replayed message from {queue_url}",
                )
                report.indexed += 1
                report.removed += 1
            else:
                report.still_failing += 1
                report.keep(f"message {message['MessageId']}", problem)


def _replay_message(body: str, run: Runtime) -> str | None:
    """None once nothing in the message is left undelivered; otherwise why it stays in the queue."""
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        return f"not JSON: {err}"
    # Lambda's on-failure destination wraps the event; a dead-letter queue holds it bare.
    event = record.get("requestPayload", record) if isinstance(record, dict) else record
    try:
        # Whatever it returns, nothing was left undelivered: that raises.
        pipeline.forward_event(event, run, Deadline(run.settings.retry_max_seconds))
    except ForwarderError as err:
        return f"{type(err).__name__}: {err}"
    except Exception as err:  # one poison message must not stop the replay of the others
        logger.exception("message not replayed: kept in the queue")
        return f"{type(err).__name__}: {err}"
    return None


def _sqs_call[T](call: Callable[[], T], what: str) -> T:
    """`call()` bounded as a whole (botocore bounds each attempt); any SQS failure is a QueueError naming `what`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call_within(SQS_CALL_SECONDS, call, what)
    except (TimeoutError, BotoCoreError, ClientError) as err:
        raise QueueError(f"cannot {what}: {err}") from None


def _sqs_client(region: str) -> Any:
    import botocore.session
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 3})
    return botocore.session.get_session().create_client("sqs", region_name=region, config=config)


def parse_target(target: str) -> tuple[str, str, str]:
    """`s3://bucket/prefix` -> ("s3", bucket, prefix); `sqs://<queue url>` -> ("sqs", url, "")."""
    scheme, sep, rest = target.partition("://")
    if sep and scheme == "s3" and rest:
        bucket, _, prefix = rest.partition("/")
        return "s3", bucket, prefix
    if sep and scheme == "sqs" and rest:
        url = rest if rest.startswith(("https://", "http://")) else "https://" + rest
        return "sqs", url, ""
    raise ForwarderError(
        f"{target!r} is not a replay source: give s3://BUCKET/PREFIX (the dead letter) "
        "or sqs://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE (the on-failure queue)"
    )
