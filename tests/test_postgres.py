"""PostgreSQL as the engine: configuration, connection trouble in one line, the schema and its
upgrades, and the concurrency SQLite's single writer gave for free (claims, counters, rate slots)
holding with writers side by side."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

from messagehub_tui import control, schema
from messagehub_tui.channels.base import Outcome, SendResult
from messagehub_tui.config import DeliverySettings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.models import Delivery, Meta, db
from messagehub_tui.workers import queue, ratelimit, registry
from tests.clitools import run
from tests.engine import make_home
from tests.peers import free_port
from tests.pgcluster import PgCluster


def _toml(url: str) -> str:
    return f'[database]\nurl = "{url}"\n'


def test_a_password_inside_the_url_is_refused_in_one_line(tmp_path):
    (tmp_path / "messagehub.toml").write_text(_toml("postgresql://ann:s3cret@db.example/mh"))
    done = run(tmp_path, "lists")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "s3cret" not in done.stderr
    assert "[database] url holds a password" in done.stderr and "PGPASSWORD" in done.stderr
    (tmp_path / "messagehub.toml").unlink()
    done = run(tmp_path, "lists", env={**os.environ,
                                       "MESSAGEHUB_DATABASE_URL": "mysql://ann:pw@h/db"})
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "pw@" not in done.stderr
    assert "MESSAGEHUB_DATABASE_URL must be a postgresql://" in done.stderr


def test_an_unreachable_server_is_one_line_naming_it(tmp_path):
    url = f"postgresql://messagehub@127.0.0.1:{free_port()}/mh"
    (tmp_path / "messagehub.toml").write_text(_toml(url))
    done = run(tmp_path, "lists")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert f"database error in {url}" in done.stderr and "PGPASSWORD" in done.stderr
    # libpq's two-line message reads as one sentence, not with its line break escaped
    assert "\\n" not in done.stderr and "\\t" not in done.stderr, done.stderr


def test_the_password_comes_from_pgpassword(pg_cluster: PgCluster, tmp_path, monkeypatch):
    pg_cluster.add_password_role("mh_owner", "pw-Ünïcode'1")
    name = pg_cluster.create_database()
    pg_cluster.sql(f'ALTER DATABASE "{name}" OWNER TO mh_owner')
    pg_cluster.sql("GRANT ALL ON SCHEMA public TO mh_owner", database=name)
    (tmp_path / "messagehub.toml").write_text(_toml(pg_cluster.url(name, user="mh_owner")))
    monkeypatch.delenv("MESSAGEHUB_DATABASE_URL", raising=False)
    env = {**os.environ, "PGPASSFILE": str(tmp_path / "none")}
    env.pop("PGPASSWORD", None)
    refused = run(tmp_path, "init", env=env)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "password" in refused.stderr
    done = run(tmp_path, "init", env={**env, "PGPASSWORD": "pw-Ünïcode'1"})
    assert done.returncode == 0, done.stderr
    doctor = run(tmp_path, "doctor", env={**env, "PGPASSWORD": "pw-Ünïcode'1"})
    line = next(line for line in doctor.stdout.splitlines() if " database " in line)
    assert line.startswith("ok") and "PostgreSQL 1" in line and "mh_owner@" in line, line
    assert not (tmp_path / "messagehub.db").exists()
    pg_cluster.drop_database(name)


def test_a_later_migration_runs_on_postgresql_in_its_types(pg_cluster, pg_database, monkeypatch):
    """A migration written as for SQLite (rowid key, DATETIME, REAL) upgrades a PostgreSQL
    database: SERIAL, TIMESTAMP and an 8-byte float, so a time.time() keeps its fraction."""
    open_db(pg_database)
    close_db()
    step = schema.SCHEMA_VERSION + 1
    monkeypatch.setitem(schema.MIGRATIONS, step, [
        'CREATE TABLE IF NOT EXISTS "probe" ("id" INTEGER NOT NULL PRIMARY KEY, '
        '"at" DATETIME NOT NULL, "score" REAL NOT NULL)'])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", step)
    import messagehub_tui.database as database
    monkeypatch.setattr(database, "SCHEMA_VERSION", step)
    open_db(pg_database)
    for score in (1.5e9 + 0.25, 2.0):
        db.execute_sql("INSERT INTO probe (at, score) VALUES (?, ?)", ("2026-01-01 10:00", score))
    assert db.execute_sql("SELECT id, score FROM probe ORDER BY id").fetchall() == \
        [(1, 1.5e9 + 0.25), (2, 2.0)]
    assert Meta.get(Meta.key == "schema_version").value == str(step)
    close_db()


def _worker(campaign_id: int, runner_id: int, settings: DeliverySettings, errors: list,
            claimed: Counter, lock: threading.Lock, deadline: float) -> None:
    """Claim and record until nothing is left: every third delivery is retried once."""
    try:
        while time.monotonic() < deadline:
            batch = queue.claim(campaign_id, runner_id, 7)
            if not batch:
                pending, sending = queue.open_work(campaign_id)
                if pending == 0:
                    return
                continue
            with lock:
                claimed.update(item.id for item in batch)
            results = [(item, SendResult(Outcome.RETRY, reason="busy")
                        if item.id % 3 == 0 and item.attempts == 1 else
                        SendResult(Outcome.SENT, provider_id=f"p{item.id}")) for item in batch]
            queue.record(campaign_id, runner_id, results, settings, "email")
    except Exception as exc:  # noqa: BLE001 (handed to the test thread)
        errors.append(exc)
    finally:
        close_db()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_writers_side_by_side_keep_claims_single_and_counters_exact(home, engine):
    """Four connections claim and record at once (claims move pending -> sending while retries
    move sending -> pending): no delivery is held twice, no deadlock, and the trigger-kept
    counters equal a real count at the end."""
    settings, cid = make_home(home, count=600)
    control.launch(settings, cid, start=False)
    fast = DeliverySettings(retry_base=0.0, retry_max=0.0, max_attempts=5)
    runners = [registry.register(cid, settings.host) for _ in range(4)]
    errors: list = []
    claimed: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + 120
    threads = [threading.Thread(target=_worker, args=(cid, runner_id, fast, errors, claimed,
                                                      lock, deadline)) for runner_id in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, str(errors[0])
    real = dict(db.execute_sql("SELECT status, COUNT(*) FROM delivery WHERE campaign_id = ? "
                               "GROUP BY status", (cid,)).fetchall())
    kept = {status: n for status, n in db.execute_sql(
        "SELECT status, n FROM delivery_count WHERE campaign_id = ?", (cid,)).fetchall() if n}
    assert real == kept == {"sent": 600}
    # each delivery claimed once, the retried third twice: never by two runners at a time
    retried = sum(1 for d in Delivery.select(Delivery.id).where(Delivery.campaign == cid)
                  if d.id % 3 == 0)
    assert sum(claimed.values()) == 600 + retried
    assert max(claimed.values()) <= 2


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_rate_slots_reserved_at_once_never_overlap(settings, engine):
    """Eight connections reserve slots of one sender at the same moment: the slots they get
    are all distinct and 1/rate apart, as if reserved one after another."""
    rate, count = 100.0, 10
    slots: list[float] = []
    errors: list = []
    lock = threading.Lock()
    start = threading.Barrier(8)
    now = time.time()

    def reserve() -> None:
        try:
            start.wait()
            for _ in range(5):
                got = ratelimit.reserve_slots("smtp:news@example.com", rate, count, now)
                with lock:
                    slots.extend(got)
        except Exception as exc:  # noqa: BLE001 (handed to the test thread)
            errors.append(exc)
        finally:
            close_db()

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    ordered = sorted(slots)
    assert len(ordered) == 8 * 5 * count
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    assert min(gaps) == pytest.approx(1 / rate, abs=1e-4)  # floats near 1.7e9: ulp 2.4e-7
    assert ordered[-1] - ordered[0] == pytest.approx((len(ordered) - 1) / rate, abs=1e-4)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_write_transactions_run_one_at_a_time_except_the_concurrent_ones(settings, engine):
    """As on SQLite, a write transaction waits for the one in progress; claims, results,
    heartbeats and rate slots (concurrent_transaction) do not, they lock only their rows."""
    from messagehub_tui.database import concurrent_transaction
    done = {"plain": threading.Event(), "concurrent": threading.Event()}

    def write(kind: str) -> None:
        with db.atomic() if kind == "plain" else concurrent_transaction():
            db.execute_sql("SELECT 1")
        done[kind].set()
        close_db()

    threads = [threading.Thread(target=write, args=(kind,)) for kind in done]
    with db.atomic():
        for thread in threads:
            thread.start()
        assert done["concurrent"].wait(60), "a concurrent transaction waited for another"
        assert not done["plain"].wait(0.5), "two write transactions ran at once"
    for thread in threads:
        thread.join()
    assert done["plain"].is_set()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_the_bounce_mailbox_read_mark_is_replaced(settings, engine):
    """The mark of how far the mailbox was read moves on (an upsert both engines take: peewee
    refuses SQLite's INSERT OR REPLACE on PostgreSQL)."""
    from messagehub_tui.bounces.store import ReadMark, read_mark, save_mark
    save_mark("INBOX", ReadMark(7, 10))
    save_mark("INBOX", ReadMark(7, 12))
    assert read_mark("INBOX") == ReadMark(7, 12)


def test_the_urls_libpq_parameters_are_used_and_a_password_there_refused(tmp_path):
    # ?sslmode=… was dropped without a word: a URL asking for verify-full connected as libpq's
    # default allows. Passed on, a value libpq does not know is refused before any connection.
    url = f"postgresql://messagehub@127.0.0.1:{free_port()}/mh?sslmode=bogus"
    (tmp_path / "messagehub.toml").write_text(_toml(url))
    done = run(tmp_path, "lists")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert 'invalid sslmode value: "bogus"' in done.stderr, done.stderr
    (tmp_path / "messagehub.toml").write_text(
        _toml("postgresql://ann@db.example/mh?sslmode=require&password=s3cret"))
    done = run(tmp_path, "lists")
    assert done.returncode == 1 and "s3cret" not in done.stderr, done.stderr
    assert "[database] url holds a password" in done.stderr
    for query, said in (("?autoconnect=0", "'autoconnect' is not a libpq connection parameter"),
                        ("?dbname=other", "names its database in the path"),
                        # ?host= (a socket folder) takes the place of the URL's host
                        ("?host=/nonexistent-socket-dir", "/nonexistent-socket-dir/.s.PGSQL")):
        (tmp_path / "messagehub.toml").write_text(_toml(f"postgresql://ann@db.example/mh{query}"))
        done = run(tmp_path, "lists")
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
