"""Real pressure: the real node's own 429s, with its write queue made tiny, under 8 forwarder processes at once.

The node answers `es_rejected_execution_exception` itself (its thread pool stats count the
rejections, proof that the test pressed), and every event still ends exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness import opensearch_node, payload_gen

from tests.helpers import report_at_the_end

PROCESSES = 8
PAYLOADS_EACH, EVENTS_EACH = 5, 1_000  # 40,000 events
BULK_DOCS = 250  # a few hundred per _bulk: 160 requests
# Each process: its payloads through the real handler, one report line each.
FORWARDER = """
import json, sys
from forwarder import handler
from forwarder.tools.local import LocalContext
for path in sys.argv[1:]:
    report = handler.lambda_handler(json.load(open(path)), LocalContext())
    print(json.dumps(report))
"""


def test_eight_forwarders_against_a_tiny_write_queue_store_every_event_exactly_once(
    real_node_possible: None, tmp_path: Path
) -> None:
    ids: list[str] = []
    batches: list[list[str]] = []
    for process in range(PROCESSES):
        files = []
        for number in range(PAYLOADS_EACH):
            doc = payload_gen.clean_payload(seed=1_000 + process * PAYLOADS_EACH + number, events=EVENTS_EACH)
            ids += [event["id"] for event in doc["logEvents"]]
            path = tmp_path / f"p{process}-{number}.json"
            path.write_text(json.dumps(payload_gen.event_for(doc)))
            files.append(str(path))
        batches.append(files)
    assert len(set(ids)) == PROCESSES * PAYLOADS_EACH * EVENTS_EACH

    with opensearch_node.LocalNode(settings={"thread_pool.write.queue_size": "1"}) as node:
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("AWS_")},
            "OPENSEARCH_ENDPOINT": node.url,  # loopback: unsigned, no credentials needed
            "AWS_REGION": "us-east-1",
            "INDEX_PREFIX": "pressure",
            "BULK_MAX_DOCS": str(BULK_DOCS),
            "RETRY_MAX_SECONDS": "120",
            "POWERTOOLS_LOG_LEVEL": "ERROR",  # PYTHONPATH stays: under test-any-day it moves the clock
        }
        started = time.monotonic()
        running = [
            subprocess.Popen(
                [sys.executable, "-c", FORWARDER, *files], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for files in batches
        ]
        reports = []
        for process in running:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err.decode()[-2000:]
            lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
            reports += [line for line in lines if "events" in line]  # not the EMF lines
        took = time.monotonic() - started
        urllib.request.urlopen(urllib.request.Request(f"{node.url}/pressure-*/_refresh", method="POST"), timeout=30)
        stats = json.loads(urllib.request.urlopen(f"{node.url}/_nodes/stats/thread_pool", timeout=10).read())
        (local,) = stats["nodes"].values()
        rejected = local["thread_pool"]["write"]["rejected"]
        # An event goes to one index (its group's, its day's) under its own _id: the count says "exactly once".
        stored = json.loads(urllib.request.urlopen(f"{node.url}/pressure-*/_count", timeout=30).read())["count"]
    assert len(reports) == PROCESSES * PAYLOADS_EACH
    indexed = sum(report["indexed"] + report["fallback"] for report in reports)
    retried = sum(report["retried"] for report in reports)
    assert sum(report["failed"] + report["dead_lettered"] for report in reports) == 0
    assert rejected > 0, "the node never rejected a write: the test did not press"
    assert indexed == len(ids) == stored, "every event stored, none twice"
    report_at_the_end(
        f"the pressure: {len(ids)} events from {PROCESSES} processes in {took:.0f} s; "
        f"the node rejected {rejected} writes (429), {retried} documents re-sent, all stored once"
    )
