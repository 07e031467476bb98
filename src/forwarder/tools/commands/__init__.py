"""The `forwarder` subcommands: each module registers its own options and runs its tool.

A module's `register(commands, reporting)` adds its parser (`reporting`: the shared
--json/--quiet/--verbose) and sets `run(args, mode, verbose) -> exit status`. What a
command needs beyond argparse is imported when it runs, so `forwarder --help` stays quick.
"""

from forwarder.tools.commands import backfill, bench, encode, invoke, reconcile, replay

COMMANDS = (invoke, replay, backfill, reconcile, bench, encode)
