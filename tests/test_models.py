"""The database: WAL mode, foreign keys, schema version, refusal of a newer schema."""

import pytest

from messagehub_tui.database import close_db, open_db
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Meta, db
from messagehub_tui.schema import SCHEMA_VERSION


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


def test_a_version_2_database_gets_runner_ids_that_are_never_reused(tmp_path):
    import sqlite3
    from pathlib import Path

    from messagehub_tui.models import Runner
    path = tmp_path / "v2.db"
    old = sqlite3.connect(path)
    old.executescript((Path(__file__).parent / "data" / "schema_v2.sql").read_text())
    old.executescript("""
        INSERT INTO contact_list (id, name, created_at) VALUES (1, 'l', '2026-01-01');
        INSERT INTO campaign (id, name, channel, status, contact_list_id, subject, body,
            created_at, updated_at, control, auto_resume)
            VALUES (1, 'old', 'email', 'running', 1, 's', 'b', '2026-01-01', '2026-01-01', '', 0);
        INSERT INTO runner (id, campaign_id, pid, host, started_at, heartbeat_at)
            VALUES (3, 1, 1, 'h', '2026-01-01', 0);
        INSERT INTO delivery (campaign_id, address, status, attempts, next_attempt_at,
            updated_at, runner_id) VALUES (1, 'a@x.org', 'sending', 1, 0, '2026-01-01', 7);
    """)
    old.close()
    open_db(path)
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    assert [r.id for r in Runner.select()] == [3]
    first = Runner.create(campaign=1, pid=2, host="h", heartbeat_at=0).id
    assert first == 8, "past the runner id a delivery still names"
    Runner.delete().where(Runner.id == first).execute()
    assert Runner.create(campaign=1, pid=2, host="h", heartbeat_at=0).id == first + 1
    close_db()
    open_db(tmp_path / "new.db")
    assert "AUTOINCREMENT" in db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE name = 'runner'").fetchone()[0]
    close_db()


def test_a_version_6_database_keeps_knowing_which_interruptions_nobody_took_up(tmp_path):
    """v7 stores InterruptCause; a campaign interrupted before, whose words say nobody took it up,
    keeps that cause (the scheduler's give-up reason reads it); another interruption has none."""
    from messagehub_tui.models import Campaign, InterruptCause

    path = tmp_path / "v6.db"
    open_db(path)
    for number, error in ((1, "no runner took it up within 30 s: no host runs runners for this "
                              "home (a daemon without --no-runners, `send` or `resume` does)"),
                          (2, "disk full: no space left on device")):
        Campaign.insert(id=number, name=f"c{number}", channel="email", body="b",
                        status="interrupted", last_error=error).execute()
    db.execute_sql('ALTER TABLE "campaign" DROP COLUMN "interrupt_cause"')
    Meta.update(value="6").where(Meta.key == "schema_version").execute()
    close_db()
    open_db(path)
    assert Campaign.get_by_id(1).interrupt_cause == InterruptCause.NOT_PICKED_UP
    assert Campaign.get_by_id(2).interrupt_cause is None
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    close_db()
