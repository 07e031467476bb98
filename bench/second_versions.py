"""What each second, faster version of a hot-path rule earns end to end (issue 18, item 2).

The hot path keeps a fast version beside the plain one for three rules: the
`@`-fields appended to each source as bytes (transform), extractedFields made a
column at a time (extracted.heads), and an all-2xx `_bulk` answer read without
parsing it (bulk.parse_items). Each is switched off in turn, in the child
process only, and the handler runs end to end against the loopback stand-in, as
`make bench` runs it: CPU ms per 1,000 documents delivered, best of the rounds,
the variants alternating within each round.

    .venv/bin/python bench/second_versions.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import payload_gen  # noqa: E402
from harness.standin import StandIn  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from run import CHILD, E2E_PAYLOADS, run_child  # noqa: E402

ROUNDS = 3
ACCESS_LOG = (9,)  # a space-delimited filter pattern's extractedFields on every event

# Each variant is code run in the child before the handler is imported.
NO_ANSWER_FAST_PATH = """
from forwarder.delivery import bulk
bulk._NO_ERRORS = b"never in an answer"
"""
NO_EXTRACTED_COLUMNS = """
from forwarder.documents import extracted
extracted.heads = lambda rows, end=b"": [None] * len(rows)  # every row the dict way (extracted.source)
"""
DICT_WAY_ONLY = (
    NO_EXTRACTED_COLUMNS
    + """
from forwarder import jsjson
from forwarder.documents import transform

def every_source_the_dict_way(messages, fields_of, heads, slow):
    for position, message in enumerate(messages):
        if fields_of[position] is None:
            brace = message.find("{")
            slow.append((position, (jsjson.object_or_none(message[brace:]) if brace >= 0 else None) or {}))

transform._embedded_heads = every_source_the_dict_way
transform._joined = lambda heads, *rest: [b""] * len(heads)  # every source is made again the dict way
"""
)
VARIANTS = {
    "as is": "",
    "no _bulk answer fast path": NO_ANSWER_FAST_PATH,
    "no extractedFields columns": NO_EXTRACTED_COLUMNS,
    "the dict way only (no bytes templates, no columns)": DICT_WAY_ONLY,
}
BATCHES = {
    "Fluent Bit records": payload_gen.CLEAN_SHAPES,
    "realistic mix": payload_gen.REALISTIC_SHAPES,
    "access log, extractedFields": ACCESS_LOG,
}


def batch(folder: Path, label: str, shapes: tuple[int, ...]) -> list[Path]:
    paths = []
    for n in range(1 + E2E_PAYLOADS):  # the first one warms up
        doc = payload_gen.payloads(seed=100 + n, count=1, events=1000, shapes=shapes)[0]
        path = folder / f"{label.split()[0]}-{n}.json"
        path.write_text(json.dumps(payload_gen.event_for(doc)))
        paths.append(path)
    return paths


def cpu_per_thousand(files: list[Path], patch: str) -> float:
    with StandIn() as standin:
        run = run_child(standin, files, POWERTOOLS_LOG_LEVEL="INFO", BENCH_PATCH=patch)
        delivered = standin.count()
    if delivered != 1000 * len(files):
        raise SystemExit(f"second_versions: {delivered} of {1000 * len(files)} documents delivered")
    return float(run["rest_cpu_ms"]) / (len(files) - 1)


def main() -> int:
    assert "BENCH_PATCH" in CHILD, "bench/run.py's child applies BENCH_PATCH"
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, shapes in BATCHES.items():
            files = batch(Path(tmp), label, shapes)
            best: dict[str, float] = {}
            for _ in range(ROUNDS):
                for name, patch in VARIANTS.items():
                    ms = cpu_per_thousand(files, patch)
                    best[name] = min(best.get(name, ms), ms)
            results[label] = best
            base = best["as is"]
            print(f"{label}: CPU ms per 1,000 documents delivered (best of {ROUNDS})")
            for name, ms in best.items():
                earned = "" if name == "as is" else f"  the fast version saves {(ms - base) / ms:.0%}"
                print(f"  {name:<52} {ms:6.2f}{earned}")
    (REPO / "bench" / "results" / "second_versions.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
