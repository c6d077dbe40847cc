"""`bounces check`: poll the bounce mailbox once and say what each message was and what was done."""

from __future__ import annotations

import argparse
from collections import Counter

from messagehub_tui.cli_args import AddCommand
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import Settings


def cmd_bounces(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui.bounces.mailbox import poll  # imap-tools and flufl.bounce only when used
    seen = poll(settings, everything=args.all)
    for entry in seen:
        print(entry.line())
    kinds = Counter(entry.finding.kind.value for entry in seen)
    moved = sum(entry.moved for entry in seen)
    found = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "nothing"
    messages = ("" if args.all else "new ") + ("message" if len(seen) == 1 else "messages")
    print(f"{settings.bounces.imap_folder}: {len(seen)} {messages} ({found}); {moved} moved to "
          f"{settings.bounces.imap_processed_folder}, {len(seen) - moved} left untouched")
    return ExitCode.OK


def register(add: AddCommand) -> None:
    parser = add("bounces", cmd_bounces,
                 "read the bounce mailbox once: suppress hard bounces, complaints and "
                 "unsubscribe requests")
    parser.add_argument("action", choices=["check"],
                        help="check: poll [bounces] imap_folder once and print what was found")
    parser.add_argument("--all", action="store_true",
                        help="read every message of the folder again, not only those that arrived "
                             "since the last poll")
