"""Command-line entry point: argparse subcommands over the campaigns and contacts services."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import DatabaseError

from messagehub_tui import (
    cli_bounces,
    cli_campaigns,
    cli_database,
    cli_delivery,
    cli_report,
)
from messagehub_tui.cli_args import (
    CHANNELS,
    Handler,
    Parser,
    one_line,
    one_line_note,
    print_json,
)
from messagehub_tui.cli_help import ExitCode, epilog
from messagehub_tui.config import Settings, home_origin, resolve_home
from messagehub_tui.config_load import load_settings
from messagehub_tui.csvread import ContactsCsv
from messagehub_tui.database import bound_url, open_db, open_for_reading
from messagehub_tui.engines import POSTGRES_HINT
from messagehub_tui.errors import MessagehubError
from messagehub_tui.homefs import (
    HomeAccess,
    create_home,
    disk_full,
    exposure_warnings,
    private_umask,
    read_only,
    require_home,
)
from messagehub_tui.models import iso_utc
from messagehub_tui.timefmt import local_text
from messagehub_tui.workers.supervisor import recover

if TYPE_CHECKING:
    from messagehub_tui.importer import ImportResult

# What each command needs of its home; any command not named here needs an existing home and
# recovers dead runners first. Only commands that add data may make a new home (`create` needs a
# list, so a new home could not serve it); read-only commands never take the write lock.
HOME_ACCESS = {
    None: HomeAccess.CREATE, "init": HomeAccess.CREATE, "import": HomeAccess.CREATE,
    "suppress": HomeAccess.CREATE, "demo": HomeAccess.CREATE,
    "campaigns": HomeAccess.READ, "status": HomeAccess.READ, "lists": HomeAccess.READ,
    "preview": HomeAccess.READ, "suppressions": HomeAccess.READ, "deliveries": HomeAccess.READ,
    "export": HomeAccess.READ, "doctor": HomeAccess.CHECK, "migrate-db": HomeAccess.READ,
}

# CONTACTS_LATE: the contact commands import contacts (the importer, email_validator and
# phonenumbers: about a fifth of the CLI's start-up) when they run, not every command.
SHOWN_REJECTS = 20  # rows listed on stderr; the rejects file has every one


def _print_import_problems(result: ImportResult) -> None:
    problems = result.problems
    for reject in problems[:SHOWN_REJECTS]:
        print(f"line {reject.line}: {reject.reason}", file=sys.stderr)
    more = result.rejected_count + result.warning_count - min(len(problems), SHOWN_REJECTS)
    if more > 0:
        print(f"… and {more} more", file=sys.stderr)
    if result.rejects_path:
        print(f"rejected rows written to {result.rejects_path}", file=sys.stderr)
    for note in result.notes:
        print(f"messagehub-tui: {note}", file=sys.stderr)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    print(f"{settings.home} is a home")
    return ExitCode.OK


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import contacts  # see CONTACTS_LATE
    try:
        result = contacts.import_csv(args.source, settings.home, args.list,
                                     settings.sms.default_region)
    except contacts.ImportStopped as exc:
        _print_import_problems(exc.result)
        print(f"messagehub-tui: {exc}", file=sys.stderr)
        return ExitCode.INTERRUPTED if exc.interrupted else ExitCode.ERROR  # as main() does
    _print_import_problems(result)
    refused_all = result.rows > 0 and result.rows == result.rejected_count
    where = f"nothing added to list {result.list_name}" if refused_all \
        else f"list {result.list_name}"
    print(f"{result.summary()} ({where})")
    if refused_all:
        # ERROR, not OK: a script must tell "every row refused" from an import that saved rows.
        # A file with some rows saved exits 0 (its rejects are listed); an empty file too.
        print(f"messagehub-tui: nothing imported: all {result.rejected_count} "
              f"row{'s' if result.rejected_count != 1 else ''} rejected", file=sys.stderr)
        return ExitCode.ERROR
    return ExitCode.OK


def cmd_suppress(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import contacts  # see CONTACTS_LATE
    added = contacts.suppress(args.addresses, args.channel, args.reason or "",
                              settings.sms.default_region)
    print(f"suppressed {added} new address{'es' if added != 1 else ''} on {args.channel}")
    return ExitCode.OK


def cmd_unsuppress(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import contacts  # see CONTACTS_LATE
    removed = contacts.unsuppress(args.addresses, args.channel, settings.sms.default_region)
    print(f"removed {removed} suppression{'s' if removed != 1 else ''} on {args.channel}")
    return ExitCode.OK


def cmd_suppressions(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import contacts  # see CONTACTS_LATE
    rows = contacts.suppressions(args.channel)
    if args.json:  # times as ISO UTC, as deliveries --json prints them
        print_json([{"channel": row.channel, "address": row.address, "reason": row.reason,
                     "campaign_id": row.campaign_id, "created_at": iso_utc(row.created_at)}
                    for row in rows])
        return ExitCode.OK
    for row in rows:
        # one_line: a reason heard from a server (a bounce's diagnostic) may hold a tab
        print(f"{row.channel}\t{row.address}\t{local_text(row.created_at)}\t"
              f"{one_line(row.reason)}")
    return ExitCode.OK


def cmd_lists(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui import contacts  # see CONTACTS_LATE
    if args.delete is not None:  # --delete "" names no list: said, not a listing
        members = contacts.delete_list(args.delete)
        print(f"deleted list {args.delete} ({members} member{'s' if members != 1 else ''}; "
              "their contacts are kept)")
        return ExitCode.OK
    if args.json:
        print_json([{"name": name, "members": members} for name, members in contacts.lists()])
        return ExitCode.OK
    for name, members in contacts.lists():
        print(f"{name}\t{members}")
    return ExitCode.OK


def cmd_daemon(args: argparse.Namespace, settings: Settings) -> int:
    # imported here: APScheduler and the bounce poller cost every other command's start
    from messagehub_tui.workers.daemon import run_daemon
    return run_daemon(settings, runners=not args.no_runners)


def run_app(settings: Settings) -> int:
    """Open the terminal UI on this home."""
    from messagehub_tui.app import create_app
    create_app(settings).run()
    # the app fired schedules while it was open; say which ones nothing will fire now
    if rows := cli_campaigns.unwatched_schedules(settings):
        print("messagehub-tui: still scheduled: " + ", ".join(
            f"campaign {row.id} at {local_text(row.scheduled_at) if row.scheduled_at else '-'}"
            for row in rows), file=sys.stderr)
        print(f"messagehub-tui: note: {cli_campaigns.watch_hint(settings)}", file=sys.stderr)
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from messagehub_tui.demo import fill_demo
    print(fill_demo(settings))
    return ExitCode.OK if args.no_app else run_app(settings)


def _add(sub: argparse._SubParsersAction[Parser], name: str, handler: Handler,
         help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog(name),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=argparse.SUPPRESS,
                        help="the folder holding messagehub.db, messagehub.toml, logs/ and outbox/")
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; subcommands register their handler."""
    parser = Parser(
        prog="messagehub-tui",
        description="Email and SMS campaigns from the terminal. With no command, opens the app.",
        epilog=epilog(None), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None,
                        help="the folder holding messagehub.db, messagehub.toml, logs/ and outbox/ "
                             "(default: $MESSAGEHUB_HOME, else the current folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add(sub, "init", cmd_init, "make this folder (or --home) a home: a private folder with an "
                                 "empty messagehub.db")
    p = _add(sub, "import", cmd_import, "import contacts from a CSV file into a list")
    p.add_argument("file", help="a CSV file with a header row and an email and/or phone column")
    p.add_argument("--list", help="the list to add them to (default: the file's name)")
    for name, handler, text in (("suppress", cmd_suppress, "never send to these addresses"),
                                ("unsuppress", cmd_unsuppress, "allow suppressed addresses again")):
        p = _add(sub, name, handler, text)
        p.add_argument("addresses", nargs="+", metavar="ADDRESS",
                       help="email addresses, or phone numbers for --channel sms")
        p.add_argument("--channel", choices=CHANNELS, required=True,
                       help="which kind of address they are")
        if name == "suppress":
            p.add_argument("--reason", default="", type=one_line_note,
                           help="a note kept with the suppression (one line)")
    p = _add(sub, "suppressions", cmd_suppressions, "show the suppression list")
    p.add_argument("--channel", choices=CHANNELS, help="only this channel's")
    p.add_argument("--json", action="store_true",
                   help="a JSON array (times in ISO-8601 UTC) instead of tab-separated lines")
    p = _add(sub, "lists", cmd_lists, "show the lists with their member counts, or delete one")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true",
                       help="a JSON array of {name, members} instead of tab-separated lines")
    shown.add_argument("--delete", metavar="NAME",
                       help="delete this list (its contacts stay, in their other lists too); "
                            "refused while a campaign that is not completed or cancelled uses it")

    p = _add(sub, "demo", cmd_demo,
             "fill this home with sample contacts and campaigns, then open the app")
    p.add_argument("--no-app", action="store_true",
                   help="only fill the home (for scripts), do not open the app")
    p = _add(sub, "daemon", cmd_daemon,
             "run scheduled sends and watch runners, headless (for tmux or systemd)")
    p.add_argument("--no-runners", action="store_true",
                   help="start no runners on this host: only fire schedules and watch runners "
                        "(with several hosts on one PostgreSQL database, the others send)")
    for module in (cli_campaigns, cli_delivery, cli_report, cli_bounces, cli_database):
        module.register(lambda name, handler, text: _add(sub, name, handler, text))
    return parser


def open_home(home: str | None, access: HomeAccess = HomeAccess.WRITE) -> Settings:
    """Load the settings of a home and open its database: creating the home only for `CREATE`
    (saying so on stderr), recovering dead runners only for commands that write."""
    settings = load_settings(home)
    shared = settings.database.url is not None
    if access is HomeAccess.CREATE and create_home(settings.home, shared):
        print(f"messagehub-tui: created home {settings.home}", file=sys.stderr)
    else:
        require_home(settings.home, shared, home_origin(home))
    for warning in exposure_warnings(settings.home):
        print(f"messagehub-tui: {warning}", file=sys.stderr)
    if access is HomeAccess.CHECK:
        return settings
    if access is HomeAccess.READ:
        open_for_reading(settings.db_location)
    else:
        open_db(settings.db_location)
        recover(settings)
    return settings


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's exit flush writes nowhere and cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _reader_gone() -> int:
    """The reader of stdout (`| head`) stopped reading: exit quietly, as a Unix tool killed by
    SIGPIPE does (status 141), with nothing more flushed into the pipe."""
    _stdout_to_devnull()
    return ExitCode.BROKEN_PIPE


def _write_failed(exc: OSError) -> int:
    """An OSError no command turned into a MessagehubError: most often the output itself could
    not be written (`> file` on a full disk, a terminal gone), which names no file. One line,
    never a traceback."""
    if exc.filename is not None:
        print(f"messagehub-tui: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return ExitCode.ERROR
    with contextlib.suppress(OSError):
        sys.stdout.flush()  # what can still be written goes out
    _stdout_to_devnull()
    print(f"messagehub-tui: cannot write: {exc.strerror or exc}", file=sys.stderr)
    return ExitCode.ERROR


def entry() -> int:
    """The `messagehub-tui` command (and `python -m messagehub_tui`): `main` on this process's
    arguments, once the modules it needs are loaded."""
    # They live as long as the process: out of the collector's way, its collections during the
    # command (a launch's validation builds many objects) no longer walk them all. Not in
    # `main`, which tests call many times in one process: what they leave would never be freed.
    gc.freeze()
    return main()


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status is an ExitCode (cli_help), never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous_umask = private_umask()
    try:
        with contextlib.ExitStack() as opened:
            if args.command == "import":
                # Opened (its header checked) before the home: a file that is not a CSV writes
                # nothing, not even a new home; cmd_import imports from this same open file.
                args.source = opened.enter_context(ContactsCsv(Path(args.file)))
            settings = open_home(args.home, HOME_ACCESS.get(args.command, HomeAccess.WRITE))
            if args.command is None:
                return run_app(settings)
            code = args.handler(args, settings)
            sys.stdout.flush()  # a reader gone away shows here, not in the interpreter's exit
            return code
    except BrokenPipeError:
        return _reader_gone()
    except MessagehubError as exc:
        print(f"messagehub-tui: {one_line(str(exc))}", file=sys.stderr)
        return ExitCode.ERROR
    except DatabaseError as exc:
        url = bound_url()
        if url:
            # libpq's messages take two lines ("…failed: Connection refused\n\tIs the server
            # running…"): one sentence here, not escapes
            said = " ".join(str(exc).split())
            print(f"messagehub-tui: database error in {url}: {one_line(said)}; "
                  f"{POSTGRES_HINT}", file=sys.stderr)
            return ExitCode.ERROR
        home = resolve_home(args.home)
        why = "; the disk is full: free some space and try again" if disk_full(home) else \
            f"; the home {home} is read-only here (a read-only mount, or another user's " \
            "folder): only reading commands work" if read_only(home) else ""
        print(f"messagehub-tui: database error in {home}: {one_line(str(exc))}{why}",
              file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print("messagehub-tui: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except OSError as exc:
        return _write_failed(exc)
    finally:
        os.umask(previous_umask)  # for callers that run main() in-process, such as the tests
