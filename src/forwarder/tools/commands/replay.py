"""Re-send dead-lettered documents (S3) or failed events (SQS).

Re-send what the forwarder could not deliver, with the settings of this environment
(OPENSEARCH_ENDPOINT, ...). From S3 an entry is removed once indexed; from SQS a message is deleted
once nothing in it is left undelivered (DEAD_LETTER_BUCKET, if set, takes what OpenSearch refuses).
Prints a report; exits 1 while something still fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from forwarder.tools import console
from forwarder.tools.commands.common import subcommand
from forwarder.tools.local import metrics_lines

EXAMPLES = """examples:
  forwarder replay s3://my-dead-letter-bucket/dead-letter/2026/11/
  forwarder replay sqs://sqs.us-east-1.amazonaws.com/123456789012/forwarder-on-failure
"""


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    replay = subcommand(commands, "replay", __doc__, EXAMPLES, reporting)
    replay.add_argument("source", help="s3://BUCKET/PREFIX or sqs://QUEUE-URL-WITHOUT-https")
    replay.set_defaults(run=run)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    from tqdm import tqdm

    from forwarder.delivery.deadletter import DeadLetterStore
    from forwarder.handler import runtime
    from forwarder.metrics import flush_metrics
    from forwarder.tools import replay

    source = args.source
    kind, where, prefix = replay.parse_target(source)
    run = runtime()
    quiet = mode == console.QUIET
    with metrics_lines(verbose):
        if kind == "s3":
            store = DeadLetterStore(where, prefix, run.settings.region)
            bar = (lambda keys: keys) if quiet else (lambda keys: tqdm(keys, desc="objects", unit="obj"))
            report = replay.replay_s3(store, run, progress=bar)
        else:
            bar = (lambda found: found) if quiet else (lambda found: tqdm(found, desc="messages", unit="msg"))
            report = replay.replay_sqs(where, run, progress=bar)
        flush_metrics()
    if mode == console.JSON:
        print(orjson.dumps({"source": source, **report.as_dict()}).decode())
    elif mode == console.HUMAN:
        print("\n".join(console.replay_lines(source, report)))
    failing = report.still_failing or report.unreadable
    if failing and mode == console.QUIET:
        print(
            f"forwarder: {source}: {report.still_failing} still failing, {report.unreadable} unreadable",
            file=sys.stderr,
        )
    return 1 if failing else 0
