"""`make demo`: the real handler on every event in events/, against the local stand-in.

Starts the OpenSearch stand-in on loopback (it checks SigV4 signatures with test
credentials), points the forwarder at it, runs `forwarder invoke` on each event
and prints what was indexed: indices, document counts and one sample document.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standin import StandIn  # noqa: E402

from forwarder import cli  # noqa: E402


def main(events: Path) -> int:
    with StandIn() as standin:
        os.environ.update(standin.env())
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the reports say it all
        where = f"{events}/*.json" if events.is_dir() else events
        print(f"OpenSearch stand-in on {standin.url}; running the handler on {where}\n")
        status = cli.main(["invoke", str(events)])
        print(f"\nindexed ({standin.count()} documents, {len(standin.seen)} signed _bulk requests):")
        for index in sorted(standin.indices):
            print(f"  {index:<50} {len(standin.indices[index]):>4} docs")
        if standin.indices:
            index = max(standin.indices, key=lambda name: len(standin.indices[name]))
            doc_id, source = next(iter(standin.documents(index).items()))
            print(f"\nsample document {index}/_doc/{doc_id}:")
            print(json.dumps(source, indent=2, ensure_ascii=False))
        return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "events")))
