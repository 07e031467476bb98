"""`make demo`: the real handler on every event in events/, against a real OpenSearch node.

Where Java and Maven are, it builds and starts a real OpenSearch 2.19 node on loopback
(harness/opensearch_node.py), puts the index template as the stack's bootstrap does, runs
`forwarder invoke` on each event, and reads back with opensearch-py what the node stored:
indices and document counts, the ERROR events across them, one index's mapping and its
ISM state. Elsewhere it says why in one line and runs against the stand-in
(harness/standin.py), printing the indices, counts and a sample document.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # before the logger is made: the reports say it all

from harness import opensearch_node  # noqa: E402
from harness.standin import StandIn  # noqa: E402
from opensearchpy import OpenSearch, TransportError  # noqa: E402

from forwarder.delivery.send import Deadline  # noqa: E402
from forwarder.delivery.sink import OpenSearchSink  # noqa: E402
from forwarder.infra.bootstrap import Bootstrap, Config  # noqa: E402
from forwarder.settings import Settings  # noqa: E402
from forwarder.tools import cli  # noqa: E402

PREFIX = "mydata"


def counted(number: int, noun: str) -> str:
    return f"{number:>4} {noun}" + ("" if number == 1 else "s")


def main(events: Path) -> int:
    reason = opensearch_node.unavailable()
    if reason:
        print(f"make demo: using the stand-in (harness/standin.py), not a real OpenSearch node: {reason}\n")
        return on_standin(events)
    return on_real_node(events)


def on_real_node(events: Path) -> int:
    print("make demo: building and starting a real OpenSearch 2.19 node (the first build fetches ~80 MB) ...")
    with opensearch_node.LocalNode() as node:
        os.environ.update(
            OPENSEARCH_ENDPOINT=node.url,
            OPENSEARCH_SERVICE="es",
            AWS_REGION="us-east-1",
            # Signed as for a domain; a node without the security plugin reads no signature.
            AWS_ACCESS_KEY_ID="AKIDLOCALDEMO",
            AWS_SECRET_ACCESS_KEY="local-demo",
            INDEX_PREFIX=PREFIX,
        )
        client = OpenSearch(hosts=[node.url], timeout=60)
        version = client.info()["version"]["number"]
        print(f"OpenSearch {version} on {node.url}, up in {node.started_in:.1f} s\n")
        config = Config(PREFIX, retention_days=30, retain_on_delete=False)
        Bootstrap(OpenSearchSink(Settings.from_env()), Deadline(30)).put_template(config)
        print(f"index template {config.template_name} put for {config.pattern}, as the stack's bootstrap does")
        where = f"{events}/*.json" if events.is_dir() else events
        print(f"running the handler on {where}\n")
        status = cli.main(["invoke", str(events)])
        client.indices.refresh(index=config.pattern)
        show_indices(client, config.pattern)
        show_errors(client, config.pattern)
        show_mapping(client, config.pattern)
        show_ism(client, config.pattern)
        client.close()
        return status


def show_indices(client: OpenSearch, pattern: str) -> None:
    rows = client.cat.indices(index=pattern, format="json", h="index,docs.count")
    print(f"\nindices ({sum(int(row['docs.count']) for row in rows)} documents), read back with opensearch-py:")
    for row in sorted(rows, key=lambda row: row["index"]):
        print(f"  {row['index']:<60} {counted(int(row['docs.count']), 'document')}")
    safe = client.search(index=pattern, body={"query": {"exists": {"field": "@fallback_reason"}}}, size=10)
    for hit in safe["hits"]["hits"]:
        reason = hit["_source"]["@fallback_reason"].replace(hit["_id"], "(this _id)")
        reason = textwrap.shorten(reason, 150, placeholder=" ...")  # cut at a word's end
        print(f"  in the safe form: {hit['_index']}/_doc/{hit['_id']}\n    {reason}")


def show_errors(client: OpenSearch, pattern: str) -> None:
    found = client.search(
        index=pattern, body={"query": {"match": {"@message": "error"}}, "sort": ["@timestamp"]}, size=10
    )
    print(f"\nsearch @message:error across {pattern}: {counted(found['hits']['total']['value'], 'hit').strip()}")
    for hit in found["hits"]["hits"]:
        source = hit["_source"]
        print(f"  {source['@timestamp']}  {hit['_index']}  {source['@message'][:90]}")


def show_mapping(client: OpenSearch, pattern: str) -> None:
    rows = client.cat.indices(index=pattern, format="json", h="index,docs.count")
    index = max(rows, key=lambda row: int(row["docs.count"]))["index"]
    properties = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    ours = ", ".join(f"{name}: {spec['type']}" for name, spec in sorted(properties.items()) if name.startswith("@"))
    others = sorted(name for name in properties if not name.startswith("@"))
    print(f"\nmapping of {index}:")
    print(f"  from the index template: {ours}")
    print(f"  mapped dynamically: {', '.join(others) or 'nothing'}")


def show_ism(client: OpenSearch, pattern: str) -> None:
    try:
        explained = client.transport.perform_request("GET", f"/_plugins/_ism/explain/{pattern}")
    except TransportError as err:
        print(f"\nISM explain: {opensearch_node.ISM_MISSING} (the node answered {err.status_code})")
        return
    print("\nISM explain (the policy attached to each index):")
    for index, state in sorted(explained.items()):
        if isinstance(state, dict):
            print(f"  {index:<60} {state.get('index.plugins.index_state_management.policy_id')}")


def on_standin(events: Path) -> int:
    with StandIn() as standin:
        os.environ.update(standin.env())
        where = f"{events}/*.json" if events.is_dir() else events
        print(f"OpenSearch stand-in on {standin.url}; running the handler on {where}\n")
        status = cli.main(["invoke", str(events)])
        print(f"\nindexed ({standin.count()} documents, {len(standin.seen)} signed _bulk requests):")
        for index in sorted(standin.indices):
            print(f"  {index:<50} {counted(len(standin.indices[index]), 'document')}")
        if standin.indices:
            index = max(standin.indices, key=lambda name: len(standin.indices[name]))
            doc_id, source = next(iter(standin.documents(index).items()))
            print(f"\nsample document {index}/_doc/{doc_id}:")
            print(json.dumps(source, indent=2, ensure_ascii=False))
        return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "events")))
