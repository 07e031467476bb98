"""What each second, faster version of a hot-path rule earns end to end (issue 18, item 2).

Three rules keep a fast version beside the plain one: extractedFields made a
column at a time (extracted.sources beside extracted.source), an all-2xx
`_bulk` answer read without parsing it (bulk.all_succeeded), and a first
attempt that makes no per-document bookkeeping unless its answer needs it
(send.Delivery._send_first). Each is switched off
in turn, in the child process only, and the handler runs end to end against the
loopback stand-in, as `make bench` runs it: CPU ms per 1,000 documents
delivered, best and median of the rounds, the variants in a different order
each round.

    .venv/bin/python bench/second_versions.py [--against REV]

`--against REV` adds the code of another revision as a variant, for a fast version
that has been removed (the `@`-fields appended as bytes were, on 2026-12-02).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import payload_gen  # noqa: E402
from harness.standin import StandIn  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from run import CHILD, run_child  # noqa: E402

ROUNDS = 5
PAYLOADS = 120  # of 1,000 events each, after one that warms up: three times make bench's, for steadier figures
ACCESS_LOG = (9,)  # a space-delimited filter pattern's extractedFields on every event

# Each variant is code run in the child before the handler is imported.
NO_ANSWER_FAST_PATH = """
from forwarder.delivery import bulk
bulk._NO_ERRORS = b"never in an answer"
"""
NO_EXTRACTED_COLUMNS = """
from forwarder.documents import extracted
extracted._column_sources = lambda rows: [None] * len(rows)  # every row the dict way (extracted.source)
"""
NO_FIRST_ROUND_FAST_PATH = """
from forwarder.delivery import send
def _send_first(self, request):  # a _Work per document from the first attempt on
    self._send(request.works(0, self._settings.sends_ids))
send.Delivery._send_first = _send_first
"""
VARIANTS = {
    "as is": "",
    "no first-round fast path": NO_FIRST_ROUND_FAST_PATH,
    "no _bulk answer fast path": NO_ANSWER_FAST_PATH,
    "no extractedFields columns": NO_EXTRACTED_COLUMNS,
}
BATCHES = {
    "Fluent Bit records": payload_gen.CLEAN_SHAPES,
    "realistic mix": payload_gen.REALISTIC_SHAPES,
    "access log, extractedFields": ACCESS_LOG,
}


def batch(folder: Path, label: str, shapes: tuple[int, ...]) -> list[Path]:
    paths = []
    for n in range(1 + PAYLOADS):  # the first one warms up
        doc = payload_gen.payloads(seed=100 + n, count=1, events=1000, shapes=shapes)[0]
        path = folder / f"{label.split()[0]}-{n}.json"
        path.write_text(json.dumps(payload_gen.event_for(doc)))
        paths.append(path)
    return paths


def cpu_per_thousand(files: list[Path], patch: str, source: Path | None) -> float:
    """`source`: another checkout's src/, imported instead of this one's."""
    paths = {"PYTHONPATH": str(source)} if source else {}
    with StandIn() as standin:
        run = run_child(standin, files, POWERTOOLS_LOG_LEVEL="INFO", BENCH_PATCH=patch, **paths)
        delivered = standin.count()
    if delivered != 1000 * len(files):
        raise SystemExit(f"second_versions: {delivered} of {1000 * len(files)} documents delivered")
    return float(run["rest_cpu_ms"]) / (len(files) - 1)


# The hot path alone, in a child like the end-to-end one: the only part the variants change
# (bar the answer fast path), timed with far less noise than a whole delivery.
HOT_PATH = r"""
import json, os, sys, time
exec(os.environ.get("BENCH_PATCH", ""))
from forwarder.tools import benchmark
events = [json.load(open(path)) for path in sys.argv[1:21]]
for event in events:
    benchmark.hot_path(event)
times = []
for _ in range(15):
    started = time.process_time()
    for event in events:
        benchmark.hot_path(event)
    times.append((time.process_time() - started) / len(events) * 1000)
print(min(times))
"""


def hot_path_ms(files: list[Path], patch: str, source: Path | None) -> float:
    env = {**os.environ, "BENCH_PATCH": patch, **({"PYTHONPATH": str(source)} if source else {})}
    done = subprocess.run(
        [sys.executable, "-c", HOT_PATH, *map(str, files)], capture_output=True, text=True, check=True, env=env
    )
    return float(done.stdout.split()[-1])


def main(argv: list[str]) -> int:
    """`--against REV`: also run the code of git revision REV (a worktree), e.g. before a fast path was removed."""
    assert "BENCH_PATCH" in CHILD, "bench/run.py's child applies BENCH_PATCH"
    variants: dict[str, tuple[str, Path | None]] = {name: (patch, None) for name, patch in VARIANTS.items()}
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if argv[:1] == ["--against"]:
            worktree = Path(tmp) / "against"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), argv[1]], check=True)
            variants[f"revision {argv[1]}"] = ("", worktree / "src")
        for label, shapes in BATCHES.items():
            files = batch(Path(tmp), label, shapes)
            runs: dict[str, list[float]] = {name: [] for name in variants}
            names = list(variants)
            for round_number in range(ROUNDS):
                turn = round_number % len(names)  # each variant goes first in some round
                for name in names[turn:] + names[:turn]:
                    runs[name].append(cpu_per_thousand(files, *variants[name]))
            best = {name: min(times) for name, times in runs.items()}
            median = {name: statistics.median(times) for name, times in runs.items()}
            hot = {name: hot_path_ms(files, *variants[name]) for name in variants}
            results[label] = {"best": best, "median": median, "hot_path": hot}
            print(f"{label}: CPU ms per 1,000 documents delivered, best and median of {ROUNDS}; the hot path alone")
            for name in variants:
                saved = (
                    ""
                    if name == "as is"
                    else (
                        f"  the fast version saves {(best[name] - best['as is']) / best[name]:.0%} (best), "
                        f"{(median[name] - median['as is']) / median[name]:.0%} (median), "
                        f"{hot[name] - hot['as is']:.2f} ms on the hot path"
                    )
                )
                print(f"  {name:<30} {best[name]:6.2f} {median[name]:6.2f} {hot[name]:6.2f}{saved}")
        if len(variants) > len(VARIANTS):
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=True)
    (REPO / "bench" / "results" / "second_versions.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
