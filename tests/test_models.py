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


def test_a_version_1_database_is_upgraded_and_keeps_its_data(tmp_path):
    import sqlite3
    from pathlib import Path

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript((Path(__file__).parent / "data" / "schema_v1.sql").read_text())
    old.executescript("""
        INSERT INTO contact_list (id, name, created_at) VALUES (1, 'l', '2026-01-01');
        INSERT INTO campaign (id, name, channel, status, contact_list_id, subject, body,
            created_at, updated_at, control)
            VALUES (1, 'old', 'email', 'paused', 1, 's', 'b', '2026-01-01', '2026-01-01', '');
        INSERT INTO delivery (campaign_id, address, status, attempts, next_attempt_at, updated_at)
            VALUES (1, 'a@x.org', 'sent', 1, 0, '2026-01-01'),
                   (1, 'b@x.org', 'pending', 0, 0, '2026-01-01'),
                   (1, 'c@x.org', 'pending', 0, 0, '2026-01-01');
    """)
    old.close()
    open_db(path)
    from messagehub_tui.campaigns import delivery_counts
    from messagehub_tui.models import Delivery
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    counts = delivery_counts(1)
    assert (counts["sent"], counts["pending"]) == (1, 2)
    Delivery.update(status="sent").where(Delivery.address == "b@x.org").execute()
    assert delivery_counts(1)["sent"] == 2 and delivery_counts(1)["pending"] == 1
    close_db()
