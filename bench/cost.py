"""$ per GB of logs forwarded, from the CPU `make bench` measured (README, "What it costs").

Lambda bills duration x memory. Below 1,769 MB a function gets that fraction of
one vCPU, so CPU-bound work takes 1,769/M times its CPU time, and its cost,
duration x M, does not depend on M. Time spent waiting for OpenSearch's answer
is billed at the full memory. Per invocation of `b` events:

    duration  = cpu_ms_per_1000 x b/1000 x max(1, 1769/M) + answer_ms x requests
    cost      = duration/1000 x M/1024 x GB_SECOND + REQUEST
    $ per GB  = cost / (b x bytes_per_event) x 2**30

bytes_per_event is what CloudWatch Logs counts for an event (its message in UTF-8
plus 26 bytes), averaged over the payloads `make bench` delivers end to end.
The CPU figures assume one of this machine's cores does as much as one Lambda
vCPU. Prices: us-east-1, on-demand, x86, as listed in PRICES.

    .venv/bin/python bench/cost.py          # after make bench
"""

from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import payload_gen  # noqa: E402

from forwarder.tools.commands.encode import EVENT_OVERHEAD  # noqa: E402

FULL_VCPU_MB = 1769  # docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
PRICES = {  # us-east-1, on-demand
    "lambda_gb_second": 0.0000166667,  # x86; arm64 0.0000133334 (aws.amazon.com/lambda/pricing/)
    "lambda_request": 0.20 / 1_000_000,
    "firehose_gb": 0.029,  # first 500 TB/month, each record rounded up to 5 KB (aws.amazon.com/firehose/pricing/)
    "ingestion_ocu_hour": 0.24,  # OpenSearch Ingestion (aws.amazon.com/opensearch-service/pricing/)
}
GIB = 2**30
BULK_MAX_BYTES = 5 * 2**20
MEMORY_SIZES = (128, 256, 512, 1024, 1769)
ANSWER_MS = (20, 100)  # OpenSearch's answer time per _bulk request: a healthy domain, a busy one
BATCH = 1000  # events per invocation (CloudWatch sends up to 10,000 or 1 MB)


def batch_sizes() -> tuple[float, float]:
    """Mean CloudWatch event size, and gzip bytes per event as CloudWatch sends it, of bench/run.py's e2e batch."""
    events = sizes = compressed = 0
    for n in range(41):
        payload = payload_gen.payloads(seed=100 + n, count=1, events=1000, shapes=payload_gen.CLEAN_SHAPES)[0]
        events += len(payload["logEvents"])
        sizes += sum(len(event["message"].encode()) + EVENT_OVERHEAD for event in payload["logEvents"])
        compressed += len(gzip.compress(json.dumps(payload).encode()))
    return sizes / events, compressed / events


def per_gb(cpu_ms_per_1000: float, memory_mb: int, answer_ms: float, event_bytes: float, ndjson_bytes: float) -> float:
    requests = math.ceil(BATCH * ndjson_bytes / BULK_MAX_BYTES)
    duration_ms = cpu_ms_per_1000 * BATCH / 1000 * max(1.0, FULL_VCPU_MB / memory_mb) + answer_ms * requests
    cost = duration_ms / 1000 * memory_mb / 1024 * PRICES["lambda_gb_second"] + PRICES["lambda_request"]
    return cost / (BATCH * event_bytes) * GIB


def main() -> int:
    results = json.loads((REPO / "bench" / "results" / "results.json").read_text())
    cpu = results["end_to_end_cpu_ms_per_1000_documents"]
    ndjson_per_event = results["end_to_end"]["false"]["request_bytes_per_doc"]  # uncompressed, as BULK_MAX_BYTES
    event_bytes, gzip_bytes = batch_sizes()
    print(
        f"CPU ms per 1,000 documents (make bench): ours {cpu['ours']:.1f}, blueprint {cpu['blueprint']:.1f}, "
        f"naive {cpu['naive']:.1f}; {event_bytes:.0f} bytes per event; peak RSS at 10,000 events "
        f"{results['peak_rss_mb_10k_events']:.0f} MB; {BATCH} events per invocation\n"
    )
    print("| forwarder | memory MB | " + " | ".join(f"$/GB, answer {ms} ms" for ms in ANSWER_MS) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in ANSWER_MS) + " |")
    for name, label in (("ours", "ours"), ("blueprint", "Node blueprint"), ("naive", "naive opensearch-py")):
        for memory in MEMORY_SIZES if name == "ours" else (256,):
            costs = [per_gb(cpu[name], memory, ms, event_bytes, ndjson_per_event) for ms in ANSWER_MS]
            print(f"| {label} | {memory} | " + " | ".join(f"{cost:.4f}" for cost in costs) + " |")
    # Firehose bills the bytes it ingests: CloudWatch's gzip records, each rounded up to 5 KB.
    record = max(BATCH * gzip_bytes, 5 * 1024)
    firehose = PRICES["firehose_gb"] * record / (BATCH * event_bytes)
    print(
        f"\nFirehose ingestion alone: ${firehose:.4f}/GB of logs ({event_bytes / gzip_bytes:.1f}x gzip), "
        "before the transform Lambda it needs to unpack CloudWatch's records for OpenSearch"
    )
    floor = PRICES["ingestion_ocu_hour"] * 24 * 30
    print(
        f"OpenSearch Ingestion: ${floor:.0f}/month per OCU, whatever the volume (${floor / 1024:.3f}/GB at 1 TB/month)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
