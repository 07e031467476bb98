"""The port a team writes in an afternoon on the named libraries: opensearch-py's
`helpers.bulk` (its default chunks of 500 actions) over requests, signed by
requests-aws4auth, with the blueprint's document shape. `make bench` runs it end to end
beside ours and the blueprint, so users see what those libraries cost.

    python bench/naive_port.py ENDPOINT EVENT.json [EVENT.json ...]
        the first event warms up; prints {"payloads": N, "cpu_ms": X, "seconds": Y} for the rest
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opensearchpy import OpenSearch, RequestsHttpConnection, helpers
from requests_aws4auth import AWS4Auth


def client(endpoint: str) -> OpenSearch:
    url = urlsplit(endpoint)
    auth = AWS4Auth(
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ["AWS_REGION"],
        "es",
        session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
    )
    return OpenSearch(
        hosts=[{"host": url.hostname, "port": url.port}],
        http_auth=auth,
        use_ssl=url.scheme == "https",
        connection_class=RequestsHttpConnection,
    )


def actions(payload: dict[str, Any]) -> list[dict[str, Any]]:
    parts = payload["logGroup"].lower().split("/")
    found = []
    for event in payload["logEvents"]:
        when = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
        source: dict[str, Any] = {}
        try:
            parsed = json.loads(event["message"])
            if isinstance(parsed, dict):
                source.update(parsed)
        except ValueError:
            pass
        source.update(
            {
                "@id": event["id"],
                "@timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "@message": event["message"],
                "@owner": payload["owner"],
                "@log_group": payload["logGroup"],
                "@log_stream": payload["logStream"],
            }
        )
        index = f"mydata-{parts[5]}-{parts[6]}-{when:%Y.%m.%d}"
        found.append({"_index": index, "_id": event["id"], "_source": source})
    return found


def handler(event: dict[str, Any], search: OpenSearch) -> None:
    payload = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    if payload["messageType"] == "CONTROL_MESSAGE":
        return
    helpers.bulk(search, actions(payload))


def main() -> int:
    endpoint, *files = sys.argv[1:]
    search = client(endpoint)
    events = [json.loads(Path(name).read_text()) for name in files]
    handler(events[0], search)
    cpu, started = time.process_time(), time.perf_counter()
    for event in events[1:]:
        handler(event, search)
    used, seconds = time.process_time() - cpu, time.perf_counter() - started
    print(json.dumps({"payloads": len(events) - 1, "cpu_ms": used * 1000, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
