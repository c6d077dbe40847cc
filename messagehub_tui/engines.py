"""The two storage engines: SQLite in the home (the default) and a PostgreSQL server named by a
`postgresql://` URL. Everything that differs between them at connection level lives here."""

from __future__ import annotations

import functools
import re
import threading
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from peewee import Database, PostgresqlDatabase, Psycopg3Adapter, SqliteDatabase

from messagehub_tui.errors import MessagehubError

# Any one lock key: every write transaction on PostgreSQL takes it, except the hot ones.
_WRITE_LOCK_KEY = 0x6D68_7475_6921  # "mhtui!"
# Placeholders in this project's SQL: `?` (sqlite3's); outside quoted text or identifiers.
_QMARK = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|\?""")


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


def is_url(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def url_problem(url: object) -> str | None:
    """What is wrong with a `[database] url`, or None. A password inside it is refused: it would
    sit in a file, a process list or a log; libpq reads it from PGPASSWORD or ~/.pgpass."""
    if not isinstance(url, str) or not is_url(url):
        # The value is not echoed: a mistyped URL may still hold a password.
        return "must be a postgresql://user@host:port/database URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    query = dict(parse_qsl(parts.query))
    if parts.password is not None or "password" in query:
        return ("holds a password: remove it from the URL and give it through PGPASSWORD or "
                "~/.pgpass")
    if "dbname" in query:
        return "names its database in the path, not as ?dbname="
    if not parts.hostname or not parts.path.strip("/"):
        return ("needs a host and a database name, as in "
                "postgresql://user@db.example.com:5432/messagehub")
    return None


def describe(location: Path | str) -> str:
    """The location as shown to a person (no secret: a URL carries none, url_problem sees to
    it)."""
    return str(location)


# What to check when the server cannot be reached or refuses us, said after its own message.
POSTGRES_HINT = ("check [database] url (or $MESSAGEHUB_DATABASE_URL), that the server accepts "
                 "connections from this host, and the password in PGPASSWORD or ~/.pgpass")


class _Psycopg3(Psycopg3Adapter):
    """peewee's psycopg 3 adapter, importing psycopg when a PostgreSQL database is made instead
    of with peewee: messagehub_tui/__init__ imports peewee with the drivers hidden, so a SQLite
    process never pays for psycopg (about 0.1 s of CPU). These are the adapter's methods that
    read peewee's module-level `psycopg` (None then), reading ours instead."""

    def __init__(self) -> None:
        super().__init__()
        import psycopg
        from psycopg.pq import TransactionStatus
        from psycopg.types.json import Json, Jsonb

        self.psycopg, self.status = psycopg, TransactionStatus
        self.txn_idle = TransactionStatus.IDLE
        self.txn_inerror = TransactionStatus.INERROR
        self.txn_unknown = TransactionStatus.UNKNOWN
        self.json_type, self.jsonb_type = Json, Jsonb

    def check_driver(self) -> None:
        """__init__ imported it (make_postgres says what to install when it is missing)."""

    def get_binary_type(self) -> Any:
        return self.psycopg.Binary

    def connect(self, db: Any, **params: Any) -> Any:
        if db._encoding:
            params.setdefault("client_encoding", db._encoding)
        params.setdefault("conninfo" if db.database.startswith("postgresql://") else "dbname",
                          db.database)
        return self.psycopg.connect(**params)

    def server_side_cursor(self, conn: Any) -> Any:
        in_transaction = self.txn_status(conn) == self.status.INTRANS
        return conn.cursor(name=str(uuid.uuid1()), withhold=not in_transaction)


class PgDatabase(PostgresqlDatabase):
    """PostgreSQL through psycopg 3, speaking the project's `?` placeholders, and serialising
    write transactions as SQLite does (one writer at a time, through an advisory lock) except
    those marked `concurrent` (claims, results, heartbeats, rate slots), which lock rows."""

    # Peewee's FloatField is REAL (4 bytes) on PostgreSQL: a time.time() in it is 2 minutes off.
    field_types = {**PostgresqlDatabase.field_types, "FLOAT": "DOUBLE PRECISION"}
    # whichever driver peewee found at import (none: see _Psycopg3), psycopg 3 it is
    psycopg2_adapter = psycopg3_adapter = _Psycopg3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self.url = ""  # as configured (it holds no password: url_problem refuses one)

    def execute_sql(self, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().execute_sql(_format_params(sql), params, *args, **kwargs)

    def translate(self, sql: str) -> str:
        return _format_params(sql)

    def begin(self, isolation_level: str | None = None) -> None:
        super().begin(isolation_level)
        if not getattr(self._local, "concurrent", False):
            self.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK_KEY,))

    def set_concurrent(self, value: bool) -> bool:
        previous = getattr(self._local, "concurrent", False)
        self._local.concurrent = value
        return previous


@functools.lru_cache(maxsize=512)
def _format_params(sql: str) -> str:
    """The project's `?` placeholders become psycopg's `%s` (a literal `%` doubles, as psycopg
    reads `%` anywhere in a statement with parameters). Peewee's own statements never hold a `?`
    outside quotes and pass through unchanged."""
    if "?" not in sql:
        return sql
    return _QMARK.sub(lambda m: m.group(1) or "%s", sql.replace("%", "%%"))


def engine_of(database: Database) -> Engine:
    return Engine.POSTGRES if isinstance(database, PostgresqlDatabase) else Engine.SQLITE


def make_sqlite(path: Path | str) -> SqliteDatabase:
    """A SQLite database in WAL mode whose write transactions begin IMMEDIATE."""
    return SqliteDatabase(
        str(path),
        pragmas={"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1,
                 "synchronous": 1, "cache_size": -16000},
        timeout=30,
        lock_type="IMMEDIATE",
    )


def make_postgres(url: str) -> PgDatabase:
    """A PostgreSQL database from its URL; libpq reads the password from PGPASSWORD or
    ~/.pgpass. The driver is the optional extra `postgres`."""
    problem = url_problem(url)
    if problem:
        raise MessagehubError(f"[database] url {problem}")
    try:
        import psycopg
    except ImportError:
        raise MessagehubError(
            "PostgreSQL needs the psycopg driver, which is not installed: run "
            "python3 -m pip install -e '.[postgres]' in the messagehub-tui checkout") from None
    parts = urlsplit(url)
    # The URL's query holds libpq's parameters (?sslmode=verify-full&sslrootcert=…, or
    # ?host=/run/postgresql for a socket): they were dropped without a word, so a URL asking
    # for TLS connected as libpq's default allows. Only libpq's own names: the rest would be
    # taken by peewee as its settings.
    asked = dict(parse_qsl(parts.query))
    libpq = {option.keyword.decode() for option in psycopg.pq.Conninfo.get_defaults()}
    if unknown := sorted(asked.keys() - libpq):
        raise MessagehubError(f"[database] url: {unknown[0]!r} is not a libpq connection "
                              "parameter (such as sslmode, sslrootcert, options)")
    database = PgDatabase(unquote(parts.path.lstrip("/")), **{
        "host": parts.hostname, "port": parts.port or 5432,
        "user": unquote(parts.username or "") or None, "connect_timeout": 10,
        "application_name": "messagehub-tui", **asked}, prefer_psycopg3=True)
    database.url = url
    return database


def make_database(location: Path | str) -> Database:
    """The database at a path (SQLite) or a postgresql:// URL."""
    if is_url(location):
        return make_postgres(str(location))
    return make_sqlite(location)
