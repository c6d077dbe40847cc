"""The database: WAL mode, foreign keys, schema version, refusal of a newer schema."""

import pytest

from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import SCHEMA_VERSION, Meta, close_db, db, open_db


def test_wal_and_version(tmp_path):
    open_db(tmp_path / "m.db")
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    close_db()


def test_a_newer_database_is_refused(tmp_path):
    open_db(tmp_path / "m.db")
    Meta.update(value=str(SCHEMA_VERSION + 1)).where(Meta.key == "schema_version").execute()
    close_db()
    with pytest.raises(MessagehubError, match="newer messagehub-tui"):
        open_db(tmp_path / "m.db")
    close_db()
