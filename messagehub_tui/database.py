"""The bound database: opening it (creating or upgrading its schema, schema.py) and closing it,
in this one place, and the few ways of writing to it that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import quote

from peewee import Database, OperationalError, SqliteDatabase
from peewee import __exception_wrapper__ as _as_peewee_errors  # type: ignore[attr-defined]

from messagehub_tui.engines import Engine, PgDatabase, describe, engine_of, is_url, make_database
from messagehub_tui.errors import MessagehubError
from messagehub_tui.homefs import disk_full, read_only
from messagehub_tui.models import ALL_MODELS, SCHEMA_VERSION_KEY, Meta, db
from messagehub_tui.schema import SCHEMA_VERSION, fresh_statements, upgrade_statements


def on_postgres() -> bool:
    """Whether the bound database is PostgreSQL (SQL that differs asks this, nothing else)."""
    return engine_of(db.obj) is Engine.POSTGRES


def bound_url() -> str | None:
    """The PostgreSQL URL the models are bound to; None for SQLite or when unbound."""
    return _pg().url if db.obj is not None and on_postgres() else None


def _pg() -> PgDatabase:
    return cast(PgDatabase, db.obj)


def executemany(sql: str, rows: list) -> int:
    """Run one statement (with `?` placeholders) once per row; how many rows it changed."""
    if not rows:
        return 0
    with _as_peewee_errors:  # driver errors become peewee's, as from execute_sql
        cursor = db.cursor()
        cursor.executemany(_pg().translate(sql) if on_postgres() else sql, rows)
        return cursor.rowcount


def lock_counters(campaign_id: int | None = None, runner_id: int | None = None) -> None:
    """PostgreSQL: take a campaign's delivery counters (or those of the campaigns a runner holds
    deliveries of) before changing any delivery. The counter triggers take them anyway, but only
    after the statement locked its deliveries: a claim holding a delivery row (SKIP LOCKED still
    locks a row it then finds taken) while waiting for the counters that a result-recording
    transaction holds, which waits for that row, is a deadlock. Taken first, never."""
    if not on_postgres():
        return  # SQLite's write transactions already run one at a time
    which = "campaign_id = ?" if campaign_id is not None else (
        "campaign_id IN (SELECT DISTINCT campaign_id FROM delivery WHERE runner_id = ?)")
    db.execute_sql(f"SELECT 1 FROM delivery_count WHERE {which} "
                   "ORDER BY campaign_id, status FOR UPDATE",
                   (campaign_id if campaign_id is not None else runner_id,))


@contextmanager
def concurrent_transaction() -> Iterator[None]:
    """A write transaction that needs no other writer to wait: it changes only rows it locks
    (its claims, its results, its runner's heartbeat, a rate slot). SQLite has one writer at a
    time anyway; on PostgreSQL it skips the lock that serialises every other write transaction."""
    if not on_postgres():
        with db.atomic():
            yield
        return
    previous = _pg().set_concurrent(True)
    try:
        with db.atomic():
            yield
    finally:
        _pg().set_concurrent(previous)


def _stored_version(database: Database) -> int | None:
    if not database.table_exists("meta"):
        return None
    row = Meta.get_or_none(Meta.key == SCHEMA_VERSION_KEY)
    return int(row.value) if row else None


def _set_version(version: int) -> None:
    Meta.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
        conflict_target=[Meta.key], update={Meta.value: str(version)}).execute()


def open_db(location: Path | str) -> Database:
    """Open (creating or upgrading) the database at a path (SQLite) or a postgresql:// URL
    (Settings.db_location) and bind the models to it."""
    if not is_url(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    database = make_database(location)
    engine = engine_of(database)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    if _stored_version(database) == SCHEMA_VERSION:
        return database  # the usual case is a read: a read-only command never waits for a writer
    with database.atomic():
        version = _stored_version(database)
        if version is None:
            database.create_tables(ALL_MODELS)
            for statement in fresh_statements(engine):
                database.execute_sql(statement)
            _set_version(SCHEMA_VERSION)
        elif version > SCHEMA_VERSION:
            raise MessagehubError(
                f"{describe(location)} was made by a newer messagehub-tui (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade messagehub-tui")
        else:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in upgrade_statements(step, engine):
                    database.execute_sql(statement)
                _set_version(step)
    return database


def close_db() -> None:
    """Close this thread's connection, if the proxy is bound."""
    if db.obj is not None and not db.is_closed():
        db.close()


def open_for_reading(location: Path | str) -> None:
    """Open the database for a command that only reads; on a full disk or in a read-only home,
    where SQLite cannot make the shared-memory index a WAL reader needs, read the database file
    as it is instead."""
    try:
        open_db(location)
        return
    except OperationalError:
        if not isinstance(location, Path):
            raise  # a PostgreSQL server's trouble: nothing in the home to fall back on
        path = location
        wal = path.with_name(path.name + "-wal")
        # Reading the file alone is exact only while no committed page waits in the WAL.
        cannot_write = disk_full(path.parent) or read_only(path.parent)
        if not cannot_write or (wal.exists() and wal.stat().st_size > 0):
            raise
    close_db()
    database = SqliteDatabase(f"file:{quote(str(path))}?immutable=1", uri=True,
                              pragmas={"foreign_keys": 1})
    db.initialize(database)
    database.connect()
