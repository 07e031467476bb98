"""A floor for any forwarder on our libraries: only the calls no Python forwarder can skip.

Per payload: base64 and gunzip, orjson over the payload and over each message that holds
a `{`, one orjson.dumps per source and per message, one join of the `_bulk` body
(columns zipped, no Python loop per event), ISA-L gzip, botocore's SigV4, one urllib3
POST and orjson over its answer. It keeps none of the product's rules: one index and one
`@timestamp` for every event, no JavaScript number or `@`-key semantics, no
extractedFields, no checks, no retry, dead letter, report or metrics. Its documents are
still valid, so the stand-in indexes them all. `make bench` runs it beside ours, so the
ratio a target asks for can be compared with what the libraries alone cost.

    python bench/floor.py ENDPOINT EVENT.json [EVENT.json ...]
        the first event warms up; prints {"payloads": N, "cpu_ms": X, "seconds": Y} for the rest
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from isal import igzip

PATH = "/_bulk?filter_path=errors%2Citems.%2A.status%2Citems.%2A.error"
ACTION = b'{"index":{"_index":"floor-2026.12.03","_id":"'
STAMP = b'","@timestamp":"2026-12-03T00:00:00.000Z","@message":'
MESSAGE, ID = itemgetter("message"), itemgetter("id")
AT_KEYS = {"@id", "@timestamp", "@message", "@owner", "@log_group", "@log_stream"}


def opened_source(message: str) -> bytes:
    """The message's JSON object with its closing brace dropped, ready for the `@`-fields."""
    if "{" not in message:
        return b"{"
    try:
        parsed = orjson.loads(message[message.index("{") :])
    except orjson.JSONDecodeError:
        return b"{"
    if not isinstance(parsed, dict):
        return b"{"
    for key in AT_KEYS & parsed.keys():  # a key written twice is refused: the @-fields win
        del parsed[key]
    return orjson.dumps(parsed)[:-1] + b"," if parsed else b"{"


def body_of(payload: dict[str, Any]) -> bytes:
    events = payload["logEvents"]
    messages = list(map(MESSAGE, events))
    ids = [event_id.encode() for event_id in map(ID, events)]
    tail = (
        b","
        + orjson.dumps(
            {"@owner": payload["owner"], "@log_group": payload["logGroup"], "@log_stream": payload["logStream"]}
        )[1:]
        + b"\n"
    )
    columns = zip(
        repeat(ACTION),
        ids,
        repeat(b'"}}\n'),
        map(opened_source, messages),
        repeat(b'"@id":"'),
        ids,
        repeat(STAMP),
        map(orjson.dumps, messages),
        repeat(tail),
    )
    return b"".join(chain.from_iterable(columns))


def send(pool: urllib3.HTTPConnectionPool, endpoint: str, credentials: Credentials, body: bytes) -> None:
    body = igzip.compress(body, 1)
    request = AWSRequest(
        method="POST",
        url=endpoint + PATH,
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(credentials, "es", os.environ["AWS_REGION"]).add_auth(request)
    answer = pool.urlopen("POST", PATH, body=body, headers=dict(request.headers.items()))
    if answer.status != 200:
        raise SystemExit(f"floor: HTTP {answer.status} {answer.data[:300]!r}")
    orjson.loads(answer.data)


def main() -> int:
    endpoint, *files = sys.argv[1:]
    pool = urllib3.connection_from_url(endpoint, maxsize=1)
    credentials = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN")
    )
    events = [json.loads(Path(name).read_text()) for name in files]

    def handle(event: dict[str, Any]) -> None:
        payload = orjson.loads(igzip.decompress(base64.b64decode(event["awslogs"]["data"])))
        send(pool, endpoint, credentials, body_of(payload))

    handle(events[0])
    cpu, started = time.process_time(), time.perf_counter()
    for event in events[1:]:
        handle(event)
    used, seconds = time.process_time() - cpu, time.perf_counter() - started
    print(json.dumps({"payloads": len(events) - 1, "cpu_ms": used * 1000, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
