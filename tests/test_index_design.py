"""`make bench-index` on a small corpus: the three designs count the same and read back the same sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.sam import REPO


def test_the_index_designs_answer_the_same_queries_and_keep_every_source(real_node_possible: None) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "index_design.py")],
        env={
            **os.environ,
            "INDEX_BENCH_EVENTS": "3000",
            "INDEX_BENCH_BATCH": "100",  # 30 payloads: each kind of log group
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "INDEX_BENCH_RESULTS": "-",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(done.stdout.split("RESULTS ", 1)[1].splitlines()[0])
    designs = results["designs"]
    assert all(found["documents"] == 3000 for found in designs.values())
    assert designs["compact"]["store_bytes"] < designs["compatible"]["store_bytes"] < designs["none"]["store_bytes"]
    counts = designs["none"]["counts"]
    assert counts["match @message"] > 0 and counts["query_string status:500"] > 0 and counts["term @log_group"] > 0
