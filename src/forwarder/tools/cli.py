"""`forwarder`: run the Lambda's own code locally.

forwarder invoke events/eks-fluentd.json            # send, print the report
forwarder invoke events/ --dry-run                  # print the _bulk NDJSON, send nothing
forwarder replay s3://my-dead-letter/dead-letter/   # re-send what was dead-lettered
forwarder backfill /aws/lambda/x --start -7d        # a log group's history, with live forwarding's _ids
forwarder encode app.log --log-group /aws/lambda/x  # log lines -> a subscription event

Each subcommand is a module of forwarder.tools.commands; this one parses, sets up the
output and the logs, and turns errors into one line and an exit status.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import warnings
from collections.abc import Sequence

from forwarder.errors import ForwarderError
from forwarder.tools import console
from forwarder.tools.commands import COMMANDS

EXAMPLES = """examples:
  forwarder invoke events/eks-fluentd.json
  forwarder invoke events/ --dry-run > body.ndjson
  forwarder replay s3://my-dead-letter-bucket/dead-letter/2026/11/
  forwarder replay sqs://sqs.us-east-1.amazonaws.com/123456789012/forwarder-on-failure
  forwarder backfill /aws/lambda/checkout --start -7d
"""
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_negative_values_joined(sys.argv[1:] if argv is None else argv))
    verbose = getattr(args, "verbose", False)
    mode = console.output_mode(getattr(args, "json", False), getattr(args, "quiet", False), sys.stdout)
    try:
        from forwarder.log import logs_to_stderr  # a wrong log level is a ConfigError here

        people = None if verbose else console.PeopleLog() if mode != console.QUIET else logging.NullHandler()
        if not verbose:  # Powertools' warning about an invocation without metrics is Lambda's business
            warnings.filterwarnings("ignore", message="No application metrics to publish")
        with logs_to_stderr(people):
            status: int = args.run(args, mode, verbose)
            return status
    except ForwarderError as err:
        print(f"forwarder: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was indexed stays, the event files are untouched; no traceback
        print("forwarder: interrupted", file=sys.stderr)
        return INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forwarder",
        description="Run the CloudWatch Logs -> OpenSearch forwarder locally.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    reporting = argparse.ArgumentParser(add_help=False)  # how the commands that report speak
    said = reporting.add_mutually_exclusive_group()
    said.add_argument("--json", action="store_true", help="one JSON report per line (the default into a pipe)")
    said.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors; the exit status says")
    reporting.add_argument(
        "--verbose", "-v", action="store_true", help="show the Lambda's JSON log lines and EMF metrics on stderr"
    )
    for command in COMMANDS:
        command.register(commands, reporting)
    return parser


def _negative_values_joined(argv: Sequence[str]) -> list[str]:
    """`--start -7d` as `--start=-7d`: argparse takes a value that starts with `-` for an option.

    No option of ours starts with `-` and a digit, so such a word is always the value of the option before it.
    """
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and re.match(r"-\d", arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


if __name__ == "__main__":
    sys.exit(main())
