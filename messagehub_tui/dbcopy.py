"""`migrate-db`: copy a home's SQLite database into an empty PostgreSQL database, ids and all.

Every table the two share is copied, column by column where both have it, parents before
children (foreign keys), in one PostgreSQL transaction: a failure leaves the target empty. The
delivery counters are copied as kept (their triggers are off while deliveries are copied) and
then checked against a real count; sequences continue past every copied id (SQLite's
AUTOINCREMENT memory included, so runner ids are never reused); row counts are compared per table.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from urllib.parse import quote

from peewee import DatabaseError
from peewee import __exception_wrapper__ as _as_peewee_errors  # type: ignore[attr-defined]

from messagehub_tui.database import close_db, open_db
from messagehub_tui.engines import make_postgres
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import ACTIVE, SCHEMA_VERSION_KEY, db
from messagehub_tui.schema import PG_COUNT_FUNCTIONS

# Kept out of the copy: the target has its own schema version (written by open_db).
_OWN_META = (SCHEMA_VERSION_KEY,)


@dataclass
class CopyReport:
    """Rows copied per table, in copy order."""

    url: str
    rows: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{table:16} {count:>10,}" for table, count in self.rows.items()]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source(path: Path) -> sqlite3.Connection:
    """The home's database, read only, in one read transaction: a consistent snapshot even if
    another process writes meanwhile."""
    if not path.is_file():
        raise MessagehubError(f"{path} does not exist: there is nothing to migrate")
    connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30,
                                 isolation_level=None)
    connection.execute("BEGIN")
    return connection


def _tables(source: sqlite3.Connection) -> list[str]:
    """The source's tables, parents before children."""
    names = [row[0] for row in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    graph = {name: {row[2] for row in source.execute(f'PRAGMA foreign_key_list("{name}")')
                    if row[2] != name} for name in names}
    try:
        return [name for name in TopologicalSorter(graph).static_order() if name in graph]
    except CycleError:
        raise MessagehubError("the home's tables refer to each other in a cycle; "
                              "migrate-db cannot order them") from None


def _columns_sqlite(source: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]


def _columns_pg(table: str) -> list[str]:
    return [row[0] for row in db.execute_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]


TARGET_HINT = ("check --to, that the database exists and the server accepts connections from "
               "this host, and the password in PGPASSWORD or ~/.pgpass")


def check_empty(url: str) -> None:
    """Refuse a target that holds any table: migrate-db never merges into existing data."""
    target = make_postgres(url)
    try:
        try:
            target.connect()
        except DatabaseError as exc:
            # said here: main's own line would name the home's SQLite file, not at fault
            raise MessagehubError(f"cannot connect to {url}: {' '.join(str(exc).split())}; "
                                  f"{TARGET_HINT}") from None
        tables = [row[0] for row in target.execute_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema') ORDER BY tablename")]
    finally:
        target.close()
    if tables:
        shown = ", ".join(tables[:3]) + (", …" if len(tables) > 3 else "")
        raise MessagehubError(f"{url} is not empty ({len(tables)} tables: {shown}); migrate-db "
                              "copies only into an empty database")


def _refuse_active(source: sqlite3.Connection) -> None:
    marks = ",".join("?" * len(ACTIVE))
    row = source.execute(f"SELECT id, status FROM campaign WHERE status IN ({marks}) "
                         "ORDER BY id LIMIT 1", [status.value for status in ACTIVE]).fetchone()
    if row:
        raise MessagehubError(f"campaign {row[0]} is {row[1]}: pause it or let it finish before "
                              "migrate-db, so no runner writes to the old database meanwhile")


def _copied_rows(table: str) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (and its parameters) that picks the rows of a table migrate-db copies."""
    if table != "meta":
        return "", ()
    return f" WHERE key NOT IN ({','.join('?' * len(_OWN_META))})", _OWN_META


def _copy_table(source: sqlite3.Connection, table: str) -> int:
    """COPY one table's shared columns into the target; returns the rows written."""
    target_columns = _columns_pg(table)
    if not target_columns:
        raise MessagehubError(f"table {table} of the home has no counterpart in the target "
                              "schema; upgrade messagehub-tui on this host first")
    columns = [c for c in _columns_sqlite(source, table) if c in target_columns]
    where, params = _copied_rows(table)
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = source.execute(f'SELECT {quoted} FROM "{table}"{where}', params)
    written = 0
    with _as_peewee_errors, db.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _continue_sequences(source: sqlite3.Connection) -> None:
    """Each serial column's sequence goes on past the largest id copied, and past the largest
    SQLite ever gave in an AUTOINCREMENT table (ids of deleted rows are never reused there)."""
    remembered = dict(source.execute("SELECT name, seq FROM sqlite_sequence").fetchall()) \
        if source.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'") \
        .fetchone() else {}
    serials = db.execute_sql(
        "SELECT table_name, column_name, pg_get_serial_sequence(table_name, column_name) "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_default LIKE ?", ("nextval(%",)).fetchall()
    for table, column, sequence in serials:
        top = db.execute_sql(f'SELECT MAX("{column}") FROM "{table}"').fetchone()[0] or 0
        top = max(top, remembered.get(table, 0))
        db.execute_sql("SELECT setval(?, ?, ?)", (sequence, max(top, 1), top > 0))


def _verify(source: sqlite3.Connection, report: CopyReport) -> None:
    for table, copied in report.rows.items():
        where, params = _copied_rows(table)
        have = source.execute(f'SELECT COUNT(*) FROM "{table}"{where}', params).fetchone()[0]
        got = db.execute_sql(f'SELECT COUNT(*) FROM "{table}"{where}', params).fetchone()[0]
        if not have == copied == got:
            raise MessagehubError(f"table {table}: {have} rows in the home, {got} in the target "
                                  "after the copy; nothing was kept")
    wrong = db.execute_sql(
        "SELECT COALESCE(c.campaign_id, r.campaign_id), COALESCE(c.status, r.status) "
        "FROM delivery_count c FULL JOIN (SELECT campaign_id, status, COUNT(*) AS n "
        "FROM delivery GROUP BY campaign_id, status) r "
        "ON r.campaign_id = c.campaign_id AND r.status = c.status "
        "WHERE COALESCE(c.n, 0) <> COALESCE(r.n, 0) LIMIT 1").fetchone()
    if wrong:
        raise MessagehubError(f"the home's delivery counters are off for campaign {wrong[0]} "
                              f"({wrong[1]}); nothing was kept")


def _empty_again() -> None:
    """Take out the schema open_db made, so the target is as empty as check_empty found it."""
    tables = [row[0] for row in db.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    if tables:
        db.execute_sql(f"DROP TABLE {', '.join(_quoted(t) for t in tables)} CASCADE")
    db.execute_sql(f"DROP FUNCTION IF EXISTS {', '.join(PG_COUNT_FUNCTIONS)}")


def migrate(path: Path, url: str) -> CopyReport:
    """Copy the SQLite database at `path` into the empty PostgreSQL database at `url`."""
    check_empty(url)
    source = _source(path)
    report = CopyReport(url)
    try:
        _refuse_active(source)
        tables = _tables(source)
        open_db(url)  # creates the current schema in the target
        table = ""
        try:
            with db.atomic():
                # The counters are copied as kept; firing their triggers per delivery would
                # count every delivery twice.
                db.execute_sql("ALTER TABLE delivery DISABLE TRIGGER USER")
                for table in tables:
                    report.rows[table] = _copy_table(source, table)
                db.execute_sql("ALTER TABLE delivery ENABLE TRIGGER USER")
                table = ""
                _continue_sequences(source)
                _verify(source, report)
        except DatabaseError as exc:
            _empty_again()
            where = f"table {table}: " if table else ""
            raise MessagehubError(f"{where}{' '.join(str(exc).split())}; nothing was kept "
                                  "(run migrate-db again into an empty database)") from None
        except MessagehubError:
            _empty_again()
            raise
    finally:
        source.close()
        close_db()
    return report
