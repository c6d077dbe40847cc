"""CLI commands on campaigns themselves: create, schedule, delete, campaigns, preview, status."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

from messagehub_tui import campaigns, control, views
from messagehub_tui.cli_args import CHANNELS, AddCommand, add_id, print_json, rate
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import CampaignStatus, Channel, utcnow
from messagehub_tui.state import CampaignState
from messagehub_tui.timefmt import WHEN_FORMS, countdown, local_text, parse_when
from messagehub_tui.workers.daemonlock import daemon_pid


def _read_text(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return campaigns.read_template(Path(path), what)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    if args.channel == Channel.SMS and args.subject is not None:
        raise MessagehubError("--subject is for email; an SMS has no subject (put it in the body)")
    campaign = campaigns.create(
        settings, args.name, args.channel, args.list, _read_text(args.body, "body"),
        subject=args.subject or "", html=_read_text(args.html, "HTML") if args.html else None,
        sender=args.sender, rate=args.rate, scheduled_at=parse_when(args.at) if args.at else None)
    print(campaign.id)
    if campaign.status == CampaignStatus.SCHEDULED:
        _warn_unwatched(settings, campaign.id)
    return ExitCode.OK


def unwatched_schedules(settings: Settings) -> list[CampaignState]:
    """Scheduled campaigns that nothing on this machine is sure to launch: no daemon runs for
    this home, and the app fires nothing once closed. None on PostgreSQL, where a daemon on
    another host may fire them."""
    if settings.database.url or daemon_pid(settings) is not None:
        return []
    # in the order they would go out (a scheduled campaign has a time; the id breaks a tie)
    return sorted(views.campaign_rows([CampaignStatus.SCHEDULED]),
                  key=lambda row: (row.scheduled_at or datetime.max, row.id))


def watch_hint(settings: Settings) -> str:
    """What to run so that scheduled campaigns go out while the app is closed."""
    return (f"a scheduled campaign goes out only while the app is open or a daemon runs for "
            f"this home; start one "
            f"with `messagehub-tui --home {shlex.quote(str(settings.home))} daemon` "
            "(in tmux or under systemd)")


def _warn_unwatched(settings: Settings, campaign_id: int) -> None:
    """On stderr: a schedule set while no daemon runs fires only while the app is open."""
    if any(row.id == campaign_id for row in unwatched_schedules(settings)):
        print(f"messagehub-tui: note: {watch_hint(settings)}", file=sys.stderr)


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    if args.clear:
        control.clear_schedule(settings, args.id)
        print(f"campaign {args.id} is a draft again")
        return ExitCode.OK
    if not args.at:
        raise MessagehubError("say when: --at WHEN, or --clear")
    at = parse_when(args.at)
    control.schedule(settings, args.id, at)
    print(f"campaign {args.id} scheduled for {local_text(at)} ({countdown(at)})")
    _warn_unwatched(settings, args.id)
    return ExitCode.OK


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    campaigns.delete(args.id)
    print(f"deleted campaign {args.id}")
    return ExitCode.OK


def cmd_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    rows = [campaigns.state_of(c, settings.host) for c in campaigns.all_campaigns()]
    if args.json:
        print_json([row.to_json() for row in rows])
        return ExitCode.OK
    now = utcnow()
    print(f"{'ID':>4}  {'NAME':24}  {'CHANNEL':7}  {'STATUS':11}  {'SENT/TOTAL':>17}  SCHEDULED")
    for row in rows:
        sent = row.counts.sent_of_total()
        when = local_text(row.scheduled_at) if row.scheduled_at else "-"
        if row.overdue(now):
            when += " (overdue)"  # the note below says what to do
        # "running*": the note below the table says its runners are gone (status column width)
        shown = f"{row.status}*" if row.runners_gone else row.status
        print(f"{row.id:>4}  {row.name[:24]:24}  {row.channel:7}  {shown:11}  "
              f"{sent:>17}  {when}")
    _print_notes(rows, settings)
    return ExitCode.OK


def _print_notes(rows: list[CampaignState], settings: Settings) -> None:
    """Below the output, on stderr: why a campaign said running is not sending, why one
    scheduled did not go out."""
    now, overdue = utcnow(), False
    for row in rows:
        if note := row.runners_gone_note() or row.overdue_note(now):
            print(f"messagehub-tui: note: {note}", file=sys.stderr)
            overdue = overdue or row.overdue(now)
    if overdue:
        print(f"messagehub-tui: note: {watch_hint(settings)}", file=sys.stderr)


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    # imported here: preview loads contacts and address checks, which other commands need not
    from messagehub_tui import preview
    text = preview.preview(settings, args.id, args.contact, raw=args.raw)
    print(text, end="" if text.endswith("\n") else "\n")
    return ExitCode.OK


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    state = campaigns.status(args.id, settings.host)
    print_json(state.to_json(), indent=2 if not args.json else None)
    _print_notes([state], settings)
    return ExitCode.OK


def register(add: AddCommand) -> None:
    """Add the campaign commands to the parser through `add(name, handler, help)`."""
    p = add("create", cmd_create, "create a campaign (a draft, or scheduled with --at); prints "
                                  "its id")
    p.add_argument("--name", required=True, help="a name to recognise it by (one line)")
    p.add_argument("--channel", choices=CHANNELS, required=True, help="how it is sent")
    p.add_argument("--list", required=True, help="the contact list it goes to (see: lists)")
    p.add_argument("--subject", help="the email subject, a template like the body (email only)")
    p.add_argument("--body", required=True, metavar="FILE",
                   help="the text template, Jinja2 with the contacts' columns (- for stdin)")
    p.add_argument("--html", metavar="FILE", help="an optional HTML template (email only)")
    p.add_argument("--from", dest="sender", metavar="ADDRESS",
                   help="the sender, instead of the configured one: an email address, or an "
                        "E.164 number or messaging service SID for SMS")
    p.add_argument("--rate", type=rate, help="messages per second, 0 for unlimited (default: "
                                              "the configured rate)")
    p.add_argument("--at", metavar="WHEN", help=f"schedule it: {WHEN_FORMS}")
    p = add("schedule", cmd_schedule, "schedule a campaign, or clear its schedule")
    add_id(p)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--at", metavar="WHEN", help=WHEN_FORMS)
    group.add_argument("--clear", action="store_true", help="back to draft")
    p = add("delete", cmd_delete, "delete a draft campaign")
    add_id(p)
    p = add("campaigns", cmd_campaigns, "list every campaign with its status and counts")
    p.add_argument("--json", action="store_true", help="JSON (as status --json) instead of a "
                                                       "table")
    p = add("preview", cmd_preview, "show the message as one contact would get it, decoded")
    add_id(p)
    p.add_argument("--contact", metavar="ADDRESS",
                   help="render for this contact (default: the list's first)")
    p.add_argument("--raw", action="store_true", help="the email exactly as sent (MIME, encoded)")
    p = add("status", cmd_status, "show a campaign's state and counts as JSON")
    add_id(p)
    p.add_argument("--json", action="store_true", help="one line instead of indented")
