"""The dead letter: what cannot be indexed, with its reason, as gzip NDJSON objects in S3.

    <prefix>YYYY/MM/DD/<index>/<digest>.ndjson.gz     documents (the date is their index's)
    <prefix>payloads/YYYY/MM/DD/<digest>.ndjson.gz    events that could not be decoded, raw
    <prefix>events/YYYY/MM/DD/<digest>.ndjson.gz      log events that made no document, as they came

One JSON entry per line. A document entry holds its index, _id, source, the last
status, error type and reason, and the attempts made; `forwarder replay` reads
them back. The digest is of what the object holds (index/_id pairs, or the raw
data), so writing the same failures again, as Lambda's retry of an event does,
overwrites the object instead of adding a copy.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from forwarder import jsjson
from forwarder.bounded import call_within
from forwarder.delivery.send import Undelivered
from forwarder.documents import schema
from forwarder.documents.transform import REJECTED, Rejected
from forwarder.errors import DeadLetterError
from forwarder.settings import Settings
from forwarder.sources.decode import Payload

WRITE_ATTEMPTS = 5  # botocore's standard retry mode: backoff with jitter on throttling and 5xx
CALL_SECONDS = 60.0  # the whole of one S3 call made with no deadline (replay's), retries included
PAYLOADS = "payloads/"
EVENTS = "events/"


class DeadLetterStore:
    def __init__(self, bucket: str, prefix: str, region: str, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._region = region
        self._s3 = client

    @classmethod
    def from_settings(cls, settings: Settings) -> DeadLetterStore | None:
        if settings.dead_letter_bucket is None:
            return None
        return cls(settings.dead_letter_bucket, settings.dead_letter_prefix, settings.region)

    # -- writing (the handler) -------------------------------------------------
    def put_documents(
        self, undelivered: Iterable[Undelivered], log_group: str, log_stream: str, time_left: float | None = None
    ) -> list[str]:
        """One object per index; returns the keys written. All of it within `time_left` seconds, or DeadLetterError."""
        until = None if time_left is None else time.monotonic() + time_left
        by_index: dict[str, list[Undelivered]] = {}
        for item in undelivered:
            by_index.setdefault(item.document.index_name, []).append(item)
        keys = []
        for index, items in by_index.items():
            identity = "\n".join(sorted(f"{index}/{item.document.id}" for item in items))
            key = f"{self.prefix}{_index_date(index)}/{index}/{_digest(identity)}.ndjson.gz"
            left = None if until is None else until - time.monotonic()
            self._put(key, [document_entry(item, log_group, log_stream) for item in items], left)
            keys.append(key)
        return keys

    def put_payload(self, data: str, error: Exception, time_left: float | None = None) -> str:
        """An event that could not be decoded, as it came, with the error; within `time_left` seconds."""
        key = f"{self.prefix}{PAYLOADS}{time.strftime('%Y/%m/%d', time.gmtime())}/{_digest(data)}.ndjson.gz"
        entry = {
            "kind": "payload",
            "error_type": type(error).__name__,
            "reason": str(error),
            "dead_lettered_at": _now(),
            "data": data,
        }
        self._put(key, [jsjson.dumps(entry)], time_left)  # data may hold a lone surrogate
        return key

    def put_events(self, rejected: Sequence[Rejected], payload: Payload, time_left: float | None = None) -> str:
        """Log events that made no document, each as it came with its reason and its payload's fields; one object."""
        common = {
            "kind": "event",
            "error_type": REJECTED,
            "owner": payload.owner,
            "log_group": payload.log_group,
            "log_stream": payload.log_stream,
            "dead_lettered_at": _now(),
        }
        lines = [jsjson.dumps({**common, "reason": item.reason, "event": item.event}) for item in rejected]
        identity = "\n".join(
            [payload.log_group, payload.log_stream, *(jsjson.dumps(item.event).decode() for item in rejected)]
        )
        key = f"{self.prefix}{EVENTS}{time.strftime('%Y/%m/%d', time.gmtime())}/{_digest(identity)}.ndjson.gz"
        self._put(key, lines, time_left)
        return key

    # -- reading back (replay) -------------------------------------------------
    # Replay is run by a person, with no deadline of its own: each of its calls gets CALL_SECONDS.
    def keys(self, prefix: str | None = None) -> Iterator[str]:
        prefix = self.prefix if prefix is None else prefix
        pages = iter(self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix))
        while page := self._bounded(lambda: next(pages, None), f"cannot list s3://{self.bucket}/{prefix}"):
            for listed in page.get("Contents", []):
                if listed["Key"].endswith(".ndjson.gz"):
                    yield listed["Key"]

    def read(self, key: str) -> list[Any]:
        """The object's entries; a line that is not JSON comes back as an "unreadable" entry holding it."""
        client = self._client()
        body = self._bounded(
            lambda: client.get_object(Bucket=self.bucket, Key=key)["Body"].read(),
            f"cannot read s3://{self.bucket}/{key}",
        )
        try:
            lines = gzip.decompress(body).splitlines()
        except (OSError, EOFError, ValueError) as err:
            raise DeadLetterError(f"cannot read s3://{self.bucket}/{key}: {err}") from None
        return [_entry(line) for line in lines if line]

    def replace(self, key: str, entries: list[dict[str, Any]]) -> None:
        """Keep only `entries` under `key`; with none left, the object is deleted."""
        if entries:
            self._put(key, [jsjson.dumps(entry) for entry in entries])
            return
        client = self._client()
        self._bounded(
            lambda: client.delete_object(Bucket=self.bucket, Key=key), f"cannot delete s3://{self.bucket}/{key}"
        )

    # -- S3 ----------------------------------------------------------------------
    def _put(self, key: str, lines: list[bytes], time_left: float | None = None) -> None:
        """PUT the object, within `time_left` (CALL_SECONDS when the caller has no deadline), retries included."""
        body = gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=6)
        client = self._client()
        self._bounded(
            lambda: client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson", ContentEncoding="gzip"
            ),
            f"cannot write s3://{self.bucket}/{key}",
            time_left,
        )

    @staticmethod
    def _bounded[T](call: Callable[[], T], failure: str, time_left: float | None = None) -> T:
        """`call()` bounded as a whole (botocore bounds each attempt); any S3 failure is a DeadLetterError."""
        failures: tuple[type[Exception], ...] = (TimeoutError, *_s3_errors())
        try:
            return call_within(CALL_SECONDS if time_left is None else time_left, call, failure.removeprefix("cannot "))
        except failures as err:
            raise DeadLetterError(f"{failure}: {err}") from None

    def _client(self) -> Any:
        if self._s3 is None:
            # Imported here: the dead letter is the rare path, and botocore's session is slow to load.
            import botocore.session
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": WRITE_ATTEMPTS},
                connect_timeout=5,
                read_timeout=20,
            )
            self._s3 = botocore.session.get_session().create_client("s3", region_name=self._region, config=config)
        return self._s3


def document_entry(item: Undelivered, log_group: str, log_stream: str) -> bytes:
    """One JSON line; its source as it was made, byte for byte. jsjson writes what orjson refuses (lone surrogates)."""
    document = item.document
    entry = jsjson.dumps(
        {
            "kind": "document",
            "index": document.index_name,
            "id": document.id,
            "status": item.status,
            "error_type": item.error_type,
            "reason": item.reason,
            "attempts": item.attempts,
            "log_group": log_group,
            "log_stream": log_stream,
            "dead_lettered_at": _now(),
        }
    )
    return entry[:-1] + b',"source":' + document.source + b"}"


def _index_date(index: str) -> str:
    """`x-2026.11.22` -> `2026/11/22`, `x-2026.w48` -> its Monday, `x-2026.11` -> `2026/11/01`; else today."""
    day = schema.day_of(index)
    return day.strftime("%Y/%m/%d") if day else time.strftime("%Y/%m/%d", time.gmtime())


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _s3_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _entry(line: bytes) -> Any:
    try:
        return jsjson.loads(line)
    except ValueError as err:  # cut short, or edited by hand: kept as it is, with the reason
        return {"kind": "unreadable", "line": line.decode("utf-8", "replace"), "reason": f"not JSON: {err}"}
