"""`migrate-db --to URL`: move a home's SQLite database to PostgreSQL; say what to configure."""

from __future__ import annotations

import argparse

from messagehub_tui.cli_args import AddCommand
from messagehub_tui.cli_help import ExitCode
from messagehub_tui.config import CONFIG_NAME, Settings
from messagehub_tui.dbcopy import migrate
from messagehub_tui.engines import url_problem
from messagehub_tui.errors import MessagehubError
from messagehub_tui.workers.daemonlock import daemon_pid


def cmd_migrate_db(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database.url:
        raise MessagehubError(f"this home already uses {settings.database.url}; migrate-db "
                              "copies a home's own SQLite database")
    problem = url_problem(args.to)
    if problem:
        raise MessagehubError(f"--to {problem}")
    serving = daemon_pid(settings)
    if serving is not None:
        # it would go on with the SQLite file, firing its schedules from there, while the home
        # moves on: a scheduled campaign would go out from both databases
        raise MessagehubError(f"the daemon (pid {serving}) serves this home from its SQLite "
                              "database: stop it before migrate-db, and start it again once "
                              "[database] url is set (close the app on this home too)")
    report = migrate(settings.db_path, args.to)
    print(f"copied {settings.db_path} into {args.to}; rows per table (equal on both sides):")
    for line in report.lines():
        print(f"  {line}")
    print(f"\nTo use it, put this in {settings.home / CONFIG_NAME} (the password, if the server "
          "asks one, goes in PGPASSWORD or ~/.pgpass):\n")
    print(f'[database]\nurl = "{args.to}"')
    return ExitCode.OK


def register(add: AddCommand) -> None:
    parser = add("migrate-db", cmd_migrate_db,
                 "copy this home's SQLite database into an empty PostgreSQL database")
    parser.add_argument("--to", required=True, metavar="URL",
                        help="postgresql://user@host:port/database (no password in it)")
