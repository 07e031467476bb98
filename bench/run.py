"""`make bench`: ours against the Node reference, measured in the same run.

1. Hot path (decode + transform + `_bulk` body, no network) on mixed payloads of
   100, 1,000 and 5,000 events: the Node reference in one process
   (bench/reference.js), ours in one process (`forwarder bench`), after checking
   that both make the same documents. Prints ms/payload and ours/Node, and draws
   bench/results/hot-path.png.
2. Cold start: importing the handler and serving a first small payload, in a
   fresh process, as in a new Lambda execution environment (the median of three).
3. Peak RSS while handling a 10,000-event payload.
4. End to end against the local stand-in (signed, gzip, keep-alive): documents
   per second, and request bytes per document with and without compression.
5. End-to-end CPU per 1,000 documents delivered, each in its own process against its
   own stand-in (whose CPU is not counted): ours, the Node blueprint's own handler
   (bench/blueprint_e2e.js) and a naive port on opensearch-py + requests-aws4auth
   (bench/naive_port.py), in alternating rounds; the best round of each counts. Beside them
   the floor (bench/floor.py): only the library calls no Python forwarder can skip.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import payload_gen  # noqa: E402
from harness.reference import assert_same_documents, reference_files  # noqa: E402
from harness.standin import StandIn  # noqa: E402

from forwarder.tools import benchmark  # noqa: E402

SIZES = (100, 1000, 5000)
ROUNDS = 5  # Node then ours, five times over; the best round of each counts (the least disturbed)
COLD_STARTS = 9  # fresh processes; the median counts (3 moved it by 20 ms between runs)
ITERATIONS = {100: 500, 1000: 100, 5000: 30}
E2E_PAYLOADS = 40  # of 1,000 events each, after one that warms up
E2E_ROUNDS = 3
RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable


def write_events(folder: Path, shapes: tuple[int, ...], label: str) -> list[Path]:
    files = []
    for size in SIZES:
        doc = payload_gen.payloads(seed=2026, count=1, events=size, shapes=shapes)[0]
        path = folder / f"{label}-{size}.json"
        path.write_text(json.dumps(payload_gen.event_for(doc)))
        files.append(path)
    return files


def same_documents(files: list[Path]) -> int:
    checked = 0
    for path, theirs in zip(files, reference_files(files), strict=True):
        ours = benchmark.hot_path(json.loads(path.read_text()))
        checked += assert_same_documents(ours, theirs["body"], path.name)
    return checked


def node_times(files: list[Path]) -> list[float]:
    out = []
    for path in files:  # one node process for all sizes; iterations by size
        size = int(path.stem.rsplit("-", 1)[1])
        done = subprocess.run(
            ["node", str(REPO / "bench" / "reference.js"), str(ITERATIONS[size]), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(done.stdout)["ms_per_payload"])
    return out


def our_times(files: list[Path], *options: str) -> list[float]:
    out = []
    for path in files:
        size = int(path.stem.rsplit("-", 1)[1])
        done = subprocess.run(
            [PYTHON, "-m", "forwarder.tools.cli", "bench", str(path), "--iterations", str(ITERATIONS[size]), *options],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(done.stdout)["ms_per_payload"])
    return out


CHILD = r"""
import json, os, resource, sys, time
exec(os.environ.get("BENCH_PATCH", ""))  # bench/second_versions.py switches a fast path off
started = time.perf_counter()
from forwarder import handler
imported = time.perf_counter()

class Context:
    function_name, memory_limit_in_mb, function_version = "bench", 128, "$LATEST"
    invoked_function_arn, aws_request_id = "arn:aws:lambda:local:0:function:bench", "bench"
    def get_remaining_time_in_millis(self):
        return 60_000

def peak_rss_mb():
    # This process's own peak (VmHWM): ru_maxrss also counts the parent's pages it was forked with.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

events = [json.load(open(path)) for path in sys.argv[1:]]
first_start = time.perf_counter()
handler.lambda_handler(events[0], Context())
first_done, first_cpu = time.perf_counter(), time.process_time()
for event in events[1:]:
    handler.lambda_handler(event, Context())
done = time.perf_counter()
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "first_payload_ms": (first_done - first_start) * 1000,
    "rest_seconds": done - first_done,
    "rest_cpu_ms": (time.process_time() - first_cpu) * 1000,
    "peak_rss_mb": peak_rss_mb(),
}))
"""


def run_child(standin: StandIn, files: list[Path], **env: str) -> dict[str, float]:
    environment = {
        **os.environ,
        **standin.env(),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",  # settings and connection pool made at import, as in Lambda
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **env,
    }
    done = subprocess.run(
        [PYTHON, "-c", CHILD, *map(str, files)], capture_output=True, text=True, check=True, env=environment
    )
    return json.loads(done.stdout.splitlines()[-1])


FIELD_PATTERN = "{prefix}-{field.kubernetes.namespace_name}-{field.kubernetes.labels.app}-{date}"


def index_pattern_cost(folder: Path) -> dict[str, float]:
    """The hot path at 1,000 Fluent Bit records, named by the default pattern and by two fields, rounds alternating."""
    (path,) = [p for p in write_events(folder, (0,), "fluent-bit") if p.stem.endswith("-1000")]
    rounds = [(our_times([path])[0], our_times([path], "--index-pattern", FIELD_PATTERN)[0]) for _ in range(ROUNDS)]
    default, by_field = min(r[0] for r in rounds), min(r[1] for r in rounds)
    print(f"index names, 1,000 Fluent Bit records: default pattern {default:.2f} ms, by two fields {by_field:.2f} ms")
    print(f"  ({FIELD_PATTERN}): {by_field / default:.2f}x the default\n")
    return {"default_ms": default, "by_field_ms": by_field, "ratio": by_field / default}


def e2e_cpu(batch: list[Path]) -> dict[str, float]:
    """CPU ms per 1,000 documents delivered after the first payload, by implementation (best of the rounds)."""

    def ours(standin: StandIn) -> float:
        return run_child(standin, batch, POWERTOOLS_LOG_LEVEL="INFO")["rest_cpu_ms"]  # as deployed

    def blueprint(standin: StandIn) -> float:
        port = standin.url.rsplit(":", 1)[1]
        done = subprocess.run(
            ["node", str(REPO / "bench" / "blueprint_e2e.js"), port, *map(str, batch)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **standin.env()},
        )
        return float(json.loads(done.stderr.splitlines()[-1])["cpu_ms"])

    def script(name: str) -> Callable[[StandIn], float]:
        def run(standin: StandIn) -> float:
            done = subprocess.run(
                [PYTHON, str(REPO / "bench" / name), standin.url, *map(str, batch)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **standin.env()},
            )
            return float(json.loads(done.stdout.splitlines()[-1])["cpu_ms"])

        return run

    runs = (("ours", ours), ("blueprint", blueprint), ("naive", script("naive_port.py")), ("floor", script("floor.py")))
    best: dict[str, float] = {}
    for _ in range(E2E_ROUNDS):
        for name, run in runs:
            with StandIn() as standin:
                cpu_ms = run(standin)
                delivered = standin.count()
            expected = 1000 * len(batch)
            if delivered != expected:
                raise SystemExit(f"bench: {name} delivered {delivered} of {expected} documents")
            per_thousand = cpu_ms / (len(batch) - 1)  # the first payload warms up; each holds 1,000
            best[name] = min(best.get(name, per_thousand), per_thousand)
    return best


def chart(table: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["events"] for row in table]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(sizes, [row["node_ms"] for row in table], "o-", label="Node reference")
    axes.plot(sizes, [row["ours_ms"] for row in table], "s-", label="cwl-opensearch-forwarder")
    axes.set_xlabel("events per payload")
    axes.set_ylabel("ms per payload")
    axes.set_title("decode + transform + _bulk body, mixed events")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
    }
    print(f"machine: {results['machine']}; Python {results['python']}; Node {results['node']}\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tables = {}
        for label, shapes in (("mixed", payload_gen.REALISTIC_SHAPES), ("parity-mix", payload_gen.ALL_SHAPES)):
            files = write_events(folder, shapes, label)
            checked = same_documents(files)
            rounds = [(node_times(files), our_times(files)) for _ in range(ROUNDS)]
            node = [min(times) for times in zip(*(r[0] for r in rounds), strict=True)]
            ours = [min(times) for times in zip(*(r[1] for r in rounds), strict=True)]
            rows = [
                {"events": size, "node_ms": n, "ours_ms": o, "ratio": o / n}
                for size, n, o in zip(SIZES, node, ours, strict=True)
            ]
            tables[label] = rows
            print(f"hot path, {label} events ({checked} documents identical to the reference's):")
            print(f"  {'events':>7}  {'Node ms':>9}  {'ours ms':>9}  {'ours/Node':>9}")
            for row in rows:
                print(f"  {row['events']:>7}  {row['node_ms']:>9.2f}  {row['ours_ms']:>9.2f}  {row['ratio']:>9.2f}")
            print()
        results["hot_path"] = tables
        chart(tables["mixed"], RESULTS / "hot-path.png")
        results["index_pattern"] = index_pattern_cost(folder)

        small = REPO / "events" / "lambda.json"
        big = folder / "big.json"
        big.write_text(
            json.dumps(
                payload_gen.event_for(
                    payload_gen.payloads(seed=7, count=1, events=10_000, shapes=payload_gen.REALISTIC_SHAPES)[0]
                )
            )
        )
        batch = []
        for n in range(1 + E2E_PAYLOADS):
            doc = payload_gen.payloads(seed=100 + n, count=1, events=1000, shapes=payload_gen.CLEAN_SHAPES)[0]
            path = folder / f"e2e-{n}.json"
            path.write_text(json.dumps(payload_gen.event_for(doc)))
            batch.append(path)
        with StandIn() as standin:
            colds = sorted(
                (run_child(standin, [small]) for _ in range(COLD_STARTS)),
                key=lambda run: run["import_ms"] + run["first_payload_ms"],
            )
            cold = colds[len(colds) // 2]
            memory = run_child(standin, [big])
        e2e = {}
        for gzip_bodies in ("true", "false"):
            with StandIn() as standin:
                run = run_child(standin, batch, BULK_GZIP=gzip_bodies)
                docs = standin.count()
                wire = sum(seen.wire_bytes for seen in standin.seen)
            e2e[gzip_bodies] = {
                "docs_per_second": (docs - 1000) / run["rest_seconds"],
                "request_bytes_per_doc": wire / docs,
            }
        cpu = e2e_cpu(batch)
    cold_ms = cold["import_ms"] + cold["first_payload_ms"]
    cold_range = [run["import_ms"] + run["first_payload_ms"] for run in (colds[0], colds[-1])]
    results.update(
        cold_start_ms=cold_ms,
        cold_start=cold,
        cold_start_range_ms=cold_range,
        peak_rss_mb_10k_events=memory["peak_rss_mb"],
        end_to_end=e2e,
        end_to_end_cpu_ms_per_1000_documents=cpu,
    )
    print(
        f"cold start: {cold_ms:.0f} ms (import {cold['import_ms']:.0f} ms + first payload "
        f"{cold['first_payload_ms']:.0f} ms, signed, to the stand-in; the median of {COLD_STARTS} fresh processes, "
        f"{cold_range[0]:.0f}-{cold_range[1]:.0f} ms)"
    )
    print(f"peak RSS handling a 10,000-event payload: {memory['peak_rss_mb']:.0f} MB")
    for gzip_bodies, label in (("true", "gzip"), ("false", "plain")):
        row = e2e[gzip_bodies]
        print(
            f"end to end ({label}): {row['docs_per_second']:,.0f} documents/s, "
            f"{row['request_bytes_per_doc']:.0f} request bytes/document"
        )
    print(
        "end to end, CPU ms per 1,000 documents delivered (signed, to a loopback stand-in): "
        f"ours {cpu['ours']:.1f}, Node blueprint {cpu['blueprint']:.1f}, "
        f"naive opensearch-py + requests-aws4auth {cpu['naive']:.1f}; "
        f"ours/blueprint {cpu['ours'] / cpu['blueprint']:.2f}, ours/naive {cpu['ours'] / cpu['naive']:.2f}"
    )
    print(
        f"  the floor of these libraries (bench/floor.py: no rules, one index and one @timestamp) "
        f"{cpu['floor']:.1f}, floor/blueprint {cpu['floor'] / cpu['blueprint']:.2f}"
    )
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'results.json'} and {RESULTS / 'hot-path.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
