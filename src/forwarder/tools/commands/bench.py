"""Time decode + transform + _bulk body on event files (no network).

Time the hot path (base64 -> gunzip -> JSON -> documents -> NDJSON body) on each event file; prints
{"file", "events", "ms_per_payload"} per file (the median of the runs). `make bench` compares it
with the Node reference.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import orjson

from forwarder.errors import ForwarderError
from forwarder.tools.commands.common import subcommand
from forwarder.tools.local import event_files, read_event

EXAMPLES = "example:\n  forwarder bench events/eks-fluentd.json --iterations 500"


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    bench = subcommand(commands, "bench", __doc__, EXAMPLES, None)
    bench.add_argument("events", nargs="+", type=Path, help="event JSON file or directory")
    bench.add_argument("--iterations", type=int, default=100, help="timed runs per file (default 100)")
    bench.add_argument(
        "--index-pattern", default="", help="an INDEX_PATTERN to time instead of the default one (see README)"
    )
    bench.set_defaults(run=run)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    from forwarder.documents.naming import IndexPattern
    from forwarder.sources import decode
    from forwarder.tools import benchmark

    if args.iterations < 1:
        raise ForwarderError(f"--iterations {args.iterations}: give a positive number of runs")
    settings = dataclasses.replace(benchmark.SETTINGS, index_pattern=IndexPattern.parse(args.index_pattern))
    for path in event_files(args.events):
        event = read_event(path)
        events = len(decode.decode_event(event, benchmark.NO_LIMIT).log_events)
        ms = benchmark.ms_per_payload(event, args.iterations, settings)
        print(orjson.dumps({"file": str(path), "events": events, "ms_per_payload": round(ms, 4)}).decode())
    return 0
