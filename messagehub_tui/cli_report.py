"""CLI commands that say who got what: `deliveries` (a table or JSON) and `export` (a CSV to
fix)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from messagehub_tui import campaigns
from messagehub_tui.cli_args import AddCommand, add_id, print_json
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import Settings
from messagehub_tui.deliveries import export_table, list_deliveries, write_csv, write_export
from messagehub_tui.models import DeliveryStatus, iso_utc
from messagehub_tui.timefmt import local_text

STATES = [state.value for state in DeliveryStatus]
ADDRESS_WIDTH = 40


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    campaign = campaigns.get(args.id)
    status = DeliveryStatus(args.status) if args.status else None
    rows = list_deliveries(campaign.id, status)
    if args.json:
        print_json([{"address": row.address, "status": row.status.value,
                     "attempts": row.attempts, "reason": row.reason,
                     "updated_at": iso_utc(row.updated_at), "provider_id": row.provider_id,
                     "feedback": [signal.to_json() for signal in row.feedback]}
                    for row in rows])
        return ExitCode.OK
    if not rows:
        which = f"{args.status} " if args.status else ""
        print(f"campaign {campaign.id} ({campaign.status}) has no {which}deliveries",
              file=sys.stderr)
        return ExitCode.OK
    width = min(max(len("ADDRESS"), *(len(row.address) for row in rows)), ADDRESS_WIDTH)
    # as wide as what was heard: "delivered,replied,unsubscribed" pushed its reason aside
    heard = max(len("FEEDBACK"), *(len(row.heard) for row in rows))
    print(f"{'ADDRESS':{width}}  {'STATUS':9}  {'ATTEMPTS':>8}  {'UPDATED':20}  "
          f"{'FEEDBACK':{heard}}  REASON")
    for row in rows:
        print(f"{row.address:{width}}  {row.status.value:9}  {row.attempts:>8}  "
              f"{local_text(row.updated_at):20}  {row.heard:{heard}}  {row.reason or '-'}")
    return ExitCode.OK


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    campaign = campaigns.get(args.id)
    if args.file == "-":  # as Unix tools read it; the summary goes aside so the CSV stays clean
        header, rows = export_table(campaign.id, DeliveryStatus(args.status))
        write_csv(sys.stdout, header, rows)
        print(f"exported {len(rows)} {args.status} deliveries of campaign {campaign.id} to stdout",
              file=sys.stderr)
        return ExitCode.OK
    count = write_export(campaign.id, DeliveryStatus(args.status), Path(args.file))
    print(f"exported {count} {args.status} deliveries of campaign {campaign.id} to {args.file}")
    return ExitCode.OK


def register(add: AddCommand) -> None:
    """Add the reporting commands to the parser through `add(name, handler, help)`."""
    p = add("deliveries", cmd_deliveries,
            "list a campaign's recipients: address, status, attempts, time, what was heard "
            "back (bounced, unsubscribed, ...), last reason")
    add_id(p)
    p.add_argument("--status", choices=STATES, help="only deliveries in this state")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p = add("export", cmd_export, "write a campaign's deliveries of one state to a CSV to fix "
                                  "and import again")
    add_id(p)
    p.add_argument("file", metavar="FILE.csv",
                   help="a new file (never overwritten), mode 0600; - for stdout")
    p.add_argument("--status", choices=STATES, default=DeliveryStatus.FAILED.value,
                   help="which deliveries (default: failed)")
