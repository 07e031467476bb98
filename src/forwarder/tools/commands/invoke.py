"""Run the Lambda handler on event files.

Run the real handler on each event (a file, or every *.json of a directory). Sends to
OPENSEARCH_ENDPOINT unless --dry-run. Prints one report per event: a sentence on a terminal, JSON
into a pipe or with --json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from forwarder.errors import ForwarderError, NotDeliveredError
from forwarder.tools import console
from forwarder.tools.commands.common import subcommand
from forwarder.tools.local import LocalContext, event_files, metrics_lines, read_event, write_stdout

EXAMPLES = "examples:\n  forwarder invoke events/eks-fluentd.json\n  forwarder invoke events/ --dry-run > body.ndjson"


def register(commands: Any, reporting: argparse.ArgumentParser) -> None:
    invoke = subcommand(commands, "invoke", __doc__, EXAMPLES, reporting)
    invoke.add_argument("events", nargs="+", type=Path, help="event JSON file or directory; - for stdin")
    invoke.add_argument("--dry-run", action="store_true", help="print the exact _bulk NDJSON body; send nothing")
    invoke.set_defaults(run=run)


def run(args: argparse.Namespace, mode: str, verbose: bool) -> int:
    files = event_files(args.events)
    return _dry_run(files) if args.dry_run else _invoke(files, mode, verbose)


def _dry_run(files: list[Path]) -> int:
    from forwarder.delivery import bulk
    from forwarder.pipeline import prepare
    from forwarder.settings import DOCUMENTS_ONLY, Settings
    from forwarder.sources import decode

    # Only what shapes the documents is needed; no endpoint, no credentials.
    settings = Settings.from_env({**DOCUMENTS_ONLY, **os.environ})
    for path in files:
        documents = prepare(decode.awslogs_data(read_event(path)), settings).documents  # filtered as sent
        if documents and not write_stdout(bulk.ndjson(documents, settings.sends_ids)):
            return 0
    return 0


def _invoke(files: list[Path], mode: str, verbose: bool) -> int:
    from forwarder.handler import handle, runtime

    runtime()  # a wrong setting is one error before any file, not one per file
    status = 0
    for path in files:
        event = read_event(path)
        try:
            with metrics_lines(verbose):
                result = handle(event, LocalContext())
        except NotDeliveredError as err:
            if err.report and mode != console.QUIET:  # status "failed", with its counts
                console.write_report(mode, str(path), err.report, err.first)
            if mode != console.HUMAN or not err.report:  # the human report has said it
                print(f"forwarder: {path}: {type(err).__name__}: {err.summary or err}", file=sys.stderr)
            status = 1
            continue
        except ForwarderError as err:
            print(f"forwarder: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            status = 1
            continue
        console.write_report(mode, str(path), result)
    return status
