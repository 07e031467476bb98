"""Make a CloudWatch Logs subscription event from log lines.

Read log lines (a file, or - for stdin) and print the Lambda event CloudWatch Logs would send for
them: {"awslogs": {"data": base64(gzip(payload))}}. For `forwarder invoke`, `sam local invoke -e`
and events/.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from forwarder.errors import ForwarderError
from forwarder.tools.commands.common import subcommand
from forwarder.tools.local import read_text, write_stdout

MAX_EVENT_BYTES = 256 * 1024  # CloudWatch Logs' limit for one event
MAX_BATCH_EVENTS = 10_000  # and for one subscription batch
MAX_BATCH_BYTES = 1024 * 1024
EVENT_OVERHEAD = 26  # bytes CloudWatch adds to each event's size

EXAMPLES = (
    "example:\n  kubectl logs deploy/api | forwarder encode - --log-group "
    "/aws/containerinsights/prod/application/payments/payments-api > events/api.json"
)


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    encode = subcommand(commands, "encode", __doc__, EXAMPLES, None)
    encode.add_argument("lines", type=Path, help="a file of log lines, one event per line; - for stdin")
    encode.add_argument("--log-group", required=True, help="e.g. /aws/lambda/checkout")
    encode.add_argument("--log-stream", default="local", help="default: local")
    encode.add_argument("--owner", default="123456789012", help="the account id (default 123456789012)")
    encode.add_argument(
        "--start-ms",
        type=int,
        default=None,
        help="timestamp of the first line in epoch milliseconds (default: now); each next line is 1 ms later",
    )
    encode.set_defaults(run=run)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    source, log_group = args.lines, args.log_group
    if not log_group.strip():
        raise ForwarderError("--log-group is empty: give the log group's name, e.g. /aws/lambda/checkout")
    lines = [line for line in read_text(source).splitlines() if line.strip()]
    if not lines:
        raise ForwarderError(f"{source}: no log lines to encode")
    sizes = [len(line.encode()) for line in lines]
    for number, size in enumerate(sizes, 1):
        if size > MAX_EVENT_BYTES:
            raise ForwarderError(f"{source}: line {number} is over CloudWatch's 256 KiB per event")
    start = int(time.time() * 1000) if args.start_ms is None else args.start_ms
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": args.owner,
        "logGroup": log_group,
        "logStream": args.log_stream,
        "subscriptionFilters": ["forwarder-encode"],
        "logEvents": [
            # CloudWatch's ids are 56 digits; these are unique per timestamp and line.
            {"id": f"{start + n:020d}{n:036d}", "timestamp": start + n, "message": line}
            for n, line in enumerate(lines)
        ],
    }
    data = base64.b64encode(gzip.compress(orjson.dumps(payload), mtime=0)).decode()
    batch_bytes = sum(sizes) + EVENT_OVERHEAD * len(lines)  # as CloudWatch counts them
    if len(lines) > MAX_BATCH_EVENTS or batch_bytes > MAX_BATCH_BYTES:
        print(
            f"forwarder: note: {len(lines):,} events, {batch_bytes:,} bytes; CloudWatch sends at most "
            f"{MAX_BATCH_EVENTS:,} events or 1 MiB per batch, so a subscription never delivers one this big",
            file=sys.stderr,
        )
    write_stdout(orjson.dumps({"awslogs": {"data": data}}) + b"\n")
    return 0
