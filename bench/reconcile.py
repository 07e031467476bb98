"""How fast reconcile compares, and how many calls it makes: `make bench-reconcile` (docs/performance.md, "Reconcile").

CloudWatch Logs is moto's server, OpenSearch the real node. RECONCILE_BENCH_EVENTS events
(20,000 by default) of about 57 bytes over five hours are put in one log group; all but
1% are forwarded through the pipeline as the subscription would have. Then `reconcile.run`
is timed twice in-process: the first run finds and sends the 1%, the second finds the range
whole. moto answers at once and returns a whole hour per page (it does not apply the 1 MB
page limit), so these are the forwarder's own costs, not AWS's latency.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

import boto3  # noqa: E402
from harness import opensearch_node  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from forwarder import handler, pipeline  # noqa: E402
from forwarder.budget import Deadline  # noqa: E402
from forwarder.delivery import bulk  # noqa: E402
from forwarder.tools import backfill, reconcile  # noqa: E402
from forwarder.tools.local import metrics_lines  # noqa: E402

EVENTS = int(os.environ.get("RECONCILE_BENCH_EVENTS", "20000"))
GROUP = "/aws/lambda/bench-reconcile"
HOUR_MS = 3_600_000
PER_PUT = 5_000  # events per PutLogEvents call


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def put_events(logs: object) -> list[dict[str, object]]:
    """EVENTS lines over the five hours before the last one; CloudWatch's copies, with their ids."""
    logs.create_log_group(logGroupName=GROUP)  # type: ignore[attr-defined]
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s-1")  # type: ignore[attr-defined]
    first = int(time.time() * 1000) - 6 * HOUR_MS
    step = 5 * HOUR_MS // EVENTS
    lines = [
        {"timestamp": first + n * step, "message": f'{{"level":"INFO","order":{n},"msg":"order paid","ms":{n % 97}}}'}
        for n in range(EVENTS)
    ]
    for at in range(0, EVENTS, PER_PUT):
        logs.put_log_events(logGroupName=GROUP, logStreamName="s-1", logEvents=lines[at : at + PER_PUT])  # type: ignore[attr-defined]
    events: list[dict[str, object]] = []
    token: dict[str, str] = {}
    while True:
        page = logs.filter_log_events(logGroupName=GROUP, limit=10_000, **token)  # type: ignore[attr-defined]
        events += page["events"]
        if not page.get("nextToken"):
            return events
        token = {"nextToken": page["nextToken"]}


def timed(job: backfill.Job, logs: object) -> tuple[reconcile.ReconcileReport, float]:
    run = handler.runtime()
    started = time.perf_counter()
    with metrics_lines(False):
        report = reconcile.run(job, run, logs, dry_run=False)
    return report, time.perf_counter() - started


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    url = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1", OPENSEARCH_SERVICE="es", INDEX_PREFIX="benchreconcile",
    )  # fmt: skip
    try:
        with opensearch_node.LocalNode() as node:
            os.environ["OPENSEARCH_ENDPOINT"] = node.url
            handler.reset_runtime()
            logs = boto3.client("logs", endpoint_url=url, region_name="us-east-1")
            events = put_events(logs)
            gap = set(random.Random(36).sample(range(len(events)), len(events) // 100))
            delivered = [event for n, event in enumerate(events) if n not in gap]
            run = handler.runtime()
            with metrics_lines(False):
                for at in range(0, len(delivered), 1000):
                    for payload in backfill.payloads(delivered[at : at + 1000], GROUP, "123456789012"):  # type: ignore[arg-type]
                        pipeline.forward_payload(payload, run, Deadline(60), bulk.INDEX)
            node_refresh(node.url)
            now_ms = int(time.time() * 1000)
            job = backfill.Job((GROUP,), now_ms - 7 * HOUR_MS, now_ms)
            print(f"reconcile: {len(events):,} events over 5 hours, {len(gap):,} missing (moto, the real node)")
            print("| run | events checked per second | FilterLogEvents calls | `_search` calls | missing | sent |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for name in ("1% missing, then sent", "whole (the second run)"):
                node_refresh(node.url)
                report, seconds = timed(job, logs)
                calls = report.calls
                print(
                    f"| {name} | {report.events_checked / seconds:,.0f} | {calls['FilterLogEvents']} | "
                    f"{calls['_search']} | {report.events_missing} | {report.events_repaired} |"
                )
            return 0
    finally:
        moto.stop()


def node_refresh(url: str) -> None:
    """What was sent becomes searchable, as it would within the refresh interval."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/benchreconcile-*/_refresh", method="POST"), timeout=30)


if __name__ == "__main__":
    sys.exit(main())
