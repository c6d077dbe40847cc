"""Command-line entry point: argparse subcommands over the campaigns and contacts services."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peewee import DatabaseError

from messagehub_tui import campaigns, cli_delivery, contacts, control
from messagehub_tui.config import Settings, load_settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import open_db
from messagehub_tui.timefmt import countdown, local_text, parse_when
from messagehub_tui.workers.daemon import run_daemon
from messagehub_tui.workers.supervisor import recover


WHEN_HELP = ("ISO-8601 with an offset (2026-12-01T09:00+01:00), local \"YYYY-MM-DD HH:MM\", "
             "or relative +90s, +10m, +2h, +1d")


def _read_text(path: str, what: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MessagehubError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MessagehubError(f"the {what} file {path} is not UTF-8 text") from None


SHOWN_REJECTS = 20  # rows listed on stderr; the rejects file has every one


def _print_import_problems(result: contacts.ImportResult) -> None:
    problems = sorted(result.rejected + result.warnings, key=lambda r: r.line)
    for reject in problems[:SHOWN_REJECTS]:
        print(f"line {reject.line}: {reject.reason}", file=sys.stderr)
    more = result.rejected_count + result.warning_count - min(len(problems), SHOWN_REJECTS)
    if more > 0:
        print(f"… and {more} more", file=sys.stderr)
    if result.rejects_path:
        print(f"rejected rows written to {result.rejects_path}", file=sys.stderr)
    for note in result.notes:
        print(f"messagehub-tui: {note}", file=sys.stderr)


def cmd_import(args, settings: Settings) -> int:
    try:
        result = contacts.import_csv(args.file, settings.home, args.list,
                                     settings.sms.default_region)
    except contacts.ImportStopped as exc:
        _print_import_problems(exc.result)
        print(f"messagehub-tui: {exc}", file=sys.stderr)
        return 130 if exc.interrupted else 1  # as main() exits on Ctrl-C
    _print_import_problems(result)
    where = f"nothing added to list {result.list_name}" \
        if result.rows and result.rows == result.rejected_count else f"list {result.list_name}"
    print(f"{result.summary()} ({where})")
    return 0


def cmd_suppress(args, settings: Settings) -> int:
    added = contacts.suppress(args.addresses, args.channel, args.reason or "",
                              settings.sms.default_region)
    print(f"suppressed {added} new address{'es' if added != 1 else ''} on {args.channel}")
    return 0


def cmd_unsuppress(args, settings: Settings) -> int:
    removed = contacts.unsuppress(args.addresses, args.channel, settings.sms.default_region)
    print(f"removed {removed} suppression{'s' if removed != 1 else ''} on {args.channel}")
    return 0


def cmd_suppressions(args, settings: Settings) -> int:
    for row in contacts.suppressions(args.channel):
        print(f"{row.channel}\t{row.address}\t{local_text(row.created_at)}\t{row.reason}")
    return 0


def cmd_lists(args, settings: Settings) -> int:
    if args.delete:
        members = contacts.delete_list(args.delete)
        print(f"deleted list {args.delete} ({members} member{'s' if members != 1 else ''}; "
              "their contacts are kept)")
        return 0
    for name, members in contacts.lists():
        print(f"{name}\t{members}")
    return 0


def cmd_create(args, settings: Settings) -> int:
    campaign = campaigns.create(
        settings, args.name, args.channel, args.list, _read_text(args.body, "body"),
        subject=args.subject or "", html=_read_text(args.html, "HTML") if args.html else None,
        sender=args.sender, rate=args.rate, scheduled_at=parse_when(args.at) if args.at else None)
    print(campaign.id)
    return 0


def cmd_schedule(args, settings: Settings) -> int:
    if args.clear:
        control.clear_schedule(settings, args.id)
        print(f"campaign {args.id} is a draft again")
        return 0
    if not args.at:
        raise MessagehubError("say when: --at WHEN, or --clear")
    campaign = control.schedule(settings, args.id, parse_when(args.at))
    print(f"campaign {args.id} scheduled for {local_text(campaign.scheduled_at)} "
          f"({countdown(campaign.scheduled_at)})")
    return 0


def cmd_daemon(args, settings: Settings) -> int:
    return run_daemon(settings)


def run_app(settings: Settings) -> int:
    """Open the terminal UI on this home."""
    from messagehub_tui.app import create_app
    create_app(settings).run()
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from messagehub_tui.demo import fill_demo
    print(fill_demo(settings))
    return run_app(settings)


def cmd_delete(args, settings: Settings) -> int:
    campaigns.delete(args.id)
    print(f"deleted campaign {args.id}")
    return 0


def cmd_campaigns(args, settings: Settings) -> int:
    rows = [campaigns.status(c.id) for c in campaigns.all_campaigns()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'ID':>4}  {'NAME':24}  {'CHANNEL':7}  {'STATUS':11}  {'SENT/TOTAL':>13}  SCHEDULED")
    for row in rows:
        sent = f"{row['counts']['sent']}/{row['total']}"
        campaign = campaigns.get(row["id"])
        when = local_text(campaign.scheduled_at) if campaign.scheduled_at else "-"
        print(f"{row['id']:>4}  {row['name'][:24]:24}  {row['channel']:7}  {row['status']:11}  "
              f"{sent:>13}  {when}")
    return 0


def cmd_preview(args, settings: Settings) -> int:
    print(campaigns.preview(settings, args.id, args.contact))
    return 0


def cmd_status(args, settings: Settings) -> int:
    print(json.dumps(campaigns.status(args.id), indent=2 if not args.json else None))
    return 0


def _add(sub, name: str, handler, help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--home", default=argparse.SUPPRESS,
                        help="the folder holding messagehub.db, messagehub.toml, logs/ and outbox/")
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; subcommands register their handler."""
    parser = argparse.ArgumentParser(
        prog="messagehub-tui",
        description="Email and SMS campaigns from the terminal. With no command, opens the app.")
    parser.add_argument("--home", default=None,
                        help="the folder holding messagehub.db, messagehub.toml, logs/ and outbox/ "
                             "(default: $MESSAGEHUB_HOME, else the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add(sub, "import", cmd_import, "import contacts from a CSV file into a list")
    p.add_argument("file")
    p.add_argument("--list", help="the list to add them to (default: the file's name)")
    for name, handler, text in (("suppress", cmd_suppress, "never send to these addresses"),
                                ("unsuppress", cmd_unsuppress, "allow suppressed addresses again")):
        p = _add(sub, name, handler, text)
        p.add_argument("addresses", nargs="+", metavar="ADDRESS")
        p.add_argument("--channel", choices=["email", "sms"], required=True)
        if name == "suppress":
            p.add_argument("--reason", default="")
    p = _add(sub, "suppressions", cmd_suppressions, "show the suppression list")
    p.add_argument("--channel", choices=["email", "sms"])
    p = _add(sub, "lists", cmd_lists, "show the lists with their member counts, or delete one")
    p.add_argument("--delete", metavar="NAME",
                   help="delete this list (its contacts stay, in their other lists too); refused "
                        "while a campaign that is not completed or cancelled uses it")

    p = _add(sub, "create", cmd_create, "create a campaign; prints its id")
    p.add_argument("--name", required=True)
    p.add_argument("--channel", choices=["email", "sms"], required=True)
    p.add_argument("--list", required=True)
    p.add_argument("--subject")
    p.add_argument("--body", required=True, metavar="FILE", help="the text template (- for stdin)")
    p.add_argument("--html", metavar="FILE", help="an optional HTML template")
    p.add_argument("--from", dest="sender", metavar="ADDRESS")
    p.add_argument("--rate", type=float, help="messages per second, 0 for unlimited")
    p.add_argument("--at", metavar="WHEN", help=WHEN_HELP)
    p = _add(sub, "schedule", cmd_schedule, "schedule a campaign, or clear its schedule")
    p.add_argument("id", type=int)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--at", metavar="WHEN", help=WHEN_HELP)
    group.add_argument("--clear", action="store_true", help="back to draft")
    _add(sub, "demo", cmd_demo, "fill this home with sample contacts and campaigns, then open the app")
    _add(sub, "daemon", cmd_daemon,
         "run scheduled sends and watch runners, headless (for tmux or systemd)")
    p = _add(sub, "delete", cmd_delete, "delete a draft campaign")
    p.add_argument("id", type=int)
    p = _add(sub, "campaigns", cmd_campaigns, "list every campaign")
    p.add_argument("--json", action="store_true")
    p = _add(sub, "preview", cmd_preview, "show the message as one contact would get it")
    p.add_argument("id", type=int)
    p.add_argument("--contact", metavar="ADDRESS")
    p = _add(sub, "status", cmd_status, "show a campaign's state and counts as JSON")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="one line instead of indented")
    cli_delivery.register(lambda name, handler, text: _add(sub, name, handler, text))
    return parser


def open_home(home: str | None) -> Settings:
    """Load the settings of a home and open its database."""
    settings = load_settings(home)
    settings.home.mkdir(parents=True, exist_ok=True)
    open_db(settings.db_path)
    recover(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 success, 1 error (one line on stderr), 2 usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = open_home(args.home)
        if args.command is None:
            return run_app(settings)
        return args.handler(args, settings)
    except MessagehubError as exc:
        print(f"messagehub-tui: {exc}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"messagehub-tui: database error in {args.home or 'the current home'}: {exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("messagehub-tui: interrupted", file=sys.stderr)
        return 130
