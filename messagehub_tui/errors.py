"""Error types every layer raises; the CLI prints them as one line, the TUI as a notification."""

import errno
import sys


class MessagehubError(Exception):
    """A problem the user can act on; its message is shown as is."""


class ConfigError(MessagehubError):
    """The configuration file or environment has a bad key or value."""


class NotFound(MessagehubError):
    """A campaign, list or contact named by the user does not exist."""


class InvalidState(MessagehubError):
    """The operation does not apply to the campaign in its current state."""


class TemplateProblem(MessagehubError):
    """A template fails to compile or uses a variable no recipient can supply."""


SHOWN = 40  # characters of a bad value quoted back in an error


def shown(value: str) -> str:
    """A user's value quoted back in an error, cut short when it is long."""
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "…")


def is_disk_full(exc: BaseException | None) -> bool:
    """A full disk or quota, as the OS (ENOSPC, EDQUOT) or SQLite (SQLITE_FULL) reports it.

    Looks through the chain: when COMMIT fails on a full disk SQLite rolls back by itself, and
    peewee's own ROLLBACK then raises "cannot rollback - no transaction is active" on top.
    """
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_connection_lost(exc: BaseException | None) -> bool:
    """PostgreSQL ended this connection or cannot be reached (a restart, an administrator's
    pg_terminate_backend, a failover, the network): SQLSTATE classes 08 and 57P, or psycopg's
    own connection errors, which carry no SQLSTATE. Never true on SQLite: a file has no
    connection to lose. Looks through the chain, as peewee wraps the driver's error."""
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:  # imported with the first PostgreSQL database: without one, nothing to lose
        return False
    pg_operational_error = psycopg.OperationalError
    while exc is not None:
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str) and state.startswith(("08", "57P")):
            return True
        if isinstance(exc, pg_operational_error) and state is None:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
