"""What each index design costs on the real node: `make bench-index` (docs/performance.md, "Index design").

The same corpus (harness/log_corpus.py) is sent by the real handler three ways: with no
template (what the blueprint's users have), with the bootstrap's `compatible` template and
with its `compact` one. After a force merge to one segment per shard it reports, for each:
primary store bytes per million events and their ratio to no template, the node's indexing
time (`_stats`), and the handler's CPU. A fixed set of queries must count the same all three
ways, and every `_source` must read back the same: nothing may win by dropping the log text.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from harness import opensearch_node  # noqa: E402
from harness.log_corpus import START_MS, Corpus  # noqa: E402
from harness.payload_gen import event_for  # noqa: E402
from opensearchpy import OpenSearch  # noqa: E402

from forwarder import handler  # noqa: E402
from forwarder.budget import Deadline  # noqa: E402
from forwarder.delivery.sink import OpenSearchSink  # noqa: E402
from forwarder.infra.bootstrap import Bootstrap, Config  # noqa: E402
from forwarder.settings import Settings  # noqa: E402
from forwarder.tools.local import LocalContext, metrics_lines  # noqa: E402

EVENTS = int(os.environ.get("INDEX_BENCH_EVENTS", "100000"))
BATCH = int(os.environ.get("INDEX_BENCH_BATCH", "1000"))  # events per payload, as a busy subscription sends
# "codec": no mappings, only best_compression: how far the codec alone goes.
DESIGNS = ("none", "codec", "compatible", "compact")
TARGETS = {"compatible": 0.70, "compact": 0.40}
RESULTS = REPO / "bench" / "results" / "index-design.json"
HALF_DAY = {"gte": START_MS, "lt": START_MS + 43_200_000, "format": "epoch_millis"}


def queries(design: str, group: str) -> dict[str, dict[str, Any]]:
    """One query per question; where the no-template mapping differs (text and .keyword against keyword),
    the form that asks the same of it."""
    keyword_suffix = ".keyword" if design in ("none", "codec") else ""
    return {
        "match @message": {"match": {"@message": "timeout"}},
        "term @log_group": {"term": {f"@log_group{keyword_suffix}": group}},
        "range @timestamp": {"range": {"@timestamp": HALF_DAY}},
        "match kubernetes.namespace_name": {"match": {"kubernetes.namespace_name": "payments"}},
        "exists kubernetes.pod_name": {"exists": {"field": "kubernetes.pod_name"}},
        "query_string status:500": {"query_string": {"query": "status:500"}},
    }


def send(design: str, url: str, client: OpenSearch) -> dict[str, float]:
    """The corpus through the real handler into `<design>-*`; the template first, as the bootstrap puts it."""
    prefix = f"design{design}"
    os.environ.update(OPENSEARCH_ENDPOINT=url, INDEX_PREFIX=prefix, AWS_REGION="us-east-1")
    handler.reset_runtime()
    if design == "codec":
        settings = {"index.codec": "best_compression", "index.number_of_replicas": 0}
        client.indices.put_index_template(
            name=prefix, body={"index_patterns": [f"{prefix}-*"], "template": {"settings": settings}}
        )
    elif design != "none":
        properties = {"IndexPrefix": prefix, "RetentionDays": "30", "MappingProfile": design, "IndexReplicas": "0"}
        Bootstrap(OpenSearchSink(Settings.from_env()), Deadline(60)).put_template(Config.from_properties(properties))
    cpu = 0.0
    for payload in Corpus(EVENTS, batch=BATCH).payloads():
        event = event_for(payload)
        started = time.process_time()
        with metrics_lines(verbose=False):  # the EMF lines Lambda would print
            result = handler.lambda_handler(event, LocalContext())
        cpu += time.process_time() - started
        if result.get("failed") or result.get("dead_lettered"):
            raise SystemExit(f"{design}: not all delivered: {result}")
    return {"handler_cpu_s": cpu}


def measure(client: OpenSearch, design: str, group: str) -> dict[str, Any]:
    pattern = f"design{design}-*"
    if design == "none":  # the single node holds no replica anyway: its health, not its bytes
        client.indices.put_settings(index=pattern, body={"index.number_of_replicas": 0})
    client.indices.refresh(index=pattern)
    client.indices.forcemerge(index=pattern, max_num_segments=1, request_timeout=600)
    client.indices.refresh(index=pattern)
    stats = client.indices.stats(index=pattern, metric="store,indexing,docs,segments", include_segment_file_sizes=True)[
        "_all"
    ]["primaries"]
    asked = queries(design, group)
    counts = {name: int(client.count(index=pattern, body={"query": query})["count"]) for name, query in asked.items()}
    agg = {"size": 0, "aggs": {"ns": {"terms": {"field": "kubernetes.namespace_name.keyword", "size": 50}}}}
    if design != "compact":  # compact has no .keyword: its strings are keywords themselves
        buckets = client.search(index=pattern, body=agg)["aggregations"]["ns"]["buckets"]
        counts["terms kubernetes.namespace_name.keyword"] = {b["key"]: b["doc_count"] for b in buckets}
    return {
        "documents": stats["docs"]["count"],
        "segments": stats["segments"]["count"],
        "store_bytes": stats["store"]["size_in_bytes"],
        "indexing_ms": stats["indexing"]["index_time_in_millis"],
        "counts": counts,
        "sources_digest": sources_digest(client, pattern),
        "indices": len(client.indices.get(index=pattern)),
        "file_bytes": {name: found["size_in_bytes"] for name, found in stats["segments"]["file_sizes"].items()},
    }


def sources_digest(client: OpenSearch, pattern: str) -> str:
    """One digest of every (_id, _source), in _id order: equal only if every source reads back the same."""
    seen: list[tuple[str, str]] = []
    page = client.search(index=pattern, body={"query": {"match_all": {}}, "sort": ["_doc"]}, size=5000, scroll="2m")
    while page["hits"]["hits"]:
        seen += [(hit["_id"], json.dumps(hit["_source"], sort_keys=True)) for hit in page["hits"]["hits"]]
        page = client.scroll(scroll_id=page["_scroll_id"], scroll="2m")
    client.clear_scroll(scroll_id=page["_scroll_id"])
    digest = hashlib.sha256()
    for doc_id, source in sorted(seen):
        digest.update(f"{doc_id}\n{source}\n".encode())
    return digest.hexdigest()


def main() -> int:
    corpus = Corpus(EVENTS, batch=BATCH)
    group = next(iter(Corpus(EVENTS, batch=BATCH).payloads()))["logGroup"]  # the term query's group: one that is there
    for _ in corpus.payloads():
        pass
    print(f"corpus: {EVENTS:,} events; distinct values: {json.dumps(corpus.distinct_counts())}")
    results: dict[str, Any] = {"events": EVENTS, "distinct_values": corpus.distinct_counts(), "designs": {}}
    with opensearch_node.LocalNode() as node:
        client = OpenSearch(hosts=[node.url], timeout=120)
        for design in DESIGNS:
            sent = send(design, node.url, client)
            results["designs"][design] = {**sent, **measure(client, design, group)}
            print(f"{design}: sent", flush=True)
    base = results["designs"]["none"]
    failures = []
    print(f"\n{'design':<12}{'bytes/M events':>16}{'ratio':>8}{'indexing s':>12}{'handler CPU s':>15}")
    for design, found in results["designs"].items():
        found["bytes_per_million"] = found["store_bytes"] / EVENTS * 1_000_000
        found["ratio"] = found["store_bytes"] / base["store_bytes"]
        print(
            f"{design:<12}{found['bytes_per_million']:>16,.0f}{found['ratio']:>8.2f}"
            f"{found['indexing_ms'] / 1000:>12.1f}{found['handler_cpu_s']:>15.1f}"
        )
        if found["documents"] != EVENTS:
            failures.append(f"{design}: {found['documents']} documents stored of {EVENTS}")
        if found["sources_digest"] != base["sources_digest"]:
            failures.append(f"{design}: a _source reads back differently from no template's")
        for name, count in found["counts"].items():
            if count != base["counts"][name]:
                failures.append(f"{design}: {name} counts {count}, no template {base['counts'][name]}")
        if design in TARGETS and found["ratio"] > TARGETS[design]:
            print(f"  {design}: over its target of {TARGETS[design]:.2f} of no template's bytes")
    print(f"\nquery counts (equal every way): {json.dumps(base['counts'])}")
    print("\nMB by Lucene file (stored fields fdt, doc values dvd, terms tim, postings doc/pos, norms nvd):")
    kinds = sorted({kind for found in results["designs"].values() for kind in found["file_bytes"]})
    print(f"{'':<12}" + "".join(f"{kind:>8}" for kind in kinds))
    for design, found in results["designs"].items():
        print(f"{design:<12}" + "".join(f"{found['file_bytes'].get(kind, 0) / 1e6:>8.1f}" for kind in kinds))
    if os.environ.get("INDEX_BENCH_RESULTS") == "-":  # a test reads them from stdout
        print("RESULTS " + json.dumps(results))
    else:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written: {RESULTS.relative_to(REPO)}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
