"""`migrate-db`: a home with every kind of row moves to PostgreSQL whole, ids and counters kept,
and the home then works on it; a non-empty target or a running campaign is refused in one line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime

import pytest

from messagehub_tui import campaigns, contacts, control, feedback
from messagehub_tui.channels.base import Outcome, SendResult
from messagehub_tui.config import DATABASE_URL_ENV, DeliverySettings
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.events import record_event
from messagehub_tui.message_id import home_token
from messagehub_tui.models import Contact, Runner
from messagehub_tui.workers import queue, ratelimit, registry
from tests.engine import make_home, poll
from tests.pgcluster import PgCluster, require_postgres

TABLES = ["meta", "contact", "contact_list", "list_member", "suppression", "campaign",
          "delivery", "event", "runner", "rate_slot", "delivery_count", "feedback",
          "feedback_count"]


def _full_home(home) -> tuple:
    """A SQLite home holding a row of every kind: contacts in a list, suppressions, a draft and
    a paused campaign whose deliveries are sent, failed, unknown, pending and skipped, events,
    a bounce heard back, a rate slot, the Message-ID token, and a runner id remembered past its
    row."""
    settings, cid = make_home(home, count=12)
    contacts.suppress(["user11@example.com"], "email", reason="asked")
    draft = campaigns.create(settings, "draft", "email", "people", "Hi", subject="S").id
    control.launch(settings, cid, start=False)
    runner = registry.register(cid, settings.host)
    batch = queue.claim(cid, runner, 6)
    outcomes = [SendResult(Outcome.SENT, provider_id="p1"), SendResult(Outcome.SENT),
                SendResult(Outcome.FAILED, reason="550 no such user", suppress=True),
                SendResult(Outcome.UNKNOWN, reason="timeout"),
                SendResult(Outcome.RETRY, reason="451 later"), SendResult(Outcome.STOP)]
    queue.record(cid, runner, list(zip(batch, outcomes, strict=True)), DeliverySettings(),
                 "email")
    control.pause(settings, cid)
    registry.settle(runner, cid)
    record_event(settings.logs_dir, cid, "a note")
    feedback.record(batch[2].id, cid, feedback.FeedbackKind.BOUNCED, "550 no such user",
                    "bounce:<b1@mx>")
    ratelimit.reserve_slots("smtp:news@example.com", 10.0, 5)
    return settings, cid, draft, runner


def _rows(connection, table: str, columns: list[str]) -> list[tuple]:
    """A table's rows, sorted, times as peewee stores them in SQLite."""
    def plain(value):
        return str(value) if isinstance(value, datetime) else value
    listed = ", ".join(f'"{c}"' for c in columns)
    where = " WHERE key <> 'schema_version'" if table == "meta" else ""
    rows = connection.execute(f'SELECT {listed} FROM "{table}"{where}')
    return sorted(tuple(plain(v) for v in row) for row in rows)


def test_a_home_with_every_kind_of_row_moves_whole(home, pg_cluster: PgCluster, cli):
    settings, cid, draft, runner = _full_home(home)
    before = campaigns.status(cid).to_json()
    token = home_token()
    close_db()
    name = pg_cluster.create_database()
    url = pg_cluster.url(name)

    code, out, err = cli("migrate-db", "--to", url)
    assert code == 0, err
    assert out.endswith(f'[database]\nurl = "{url}"\n')
    assert "delivery " in out and "contact " in out

    import psycopg
    source = sqlite3.connect(settings.db_path)
    target = psycopg.connect(url, autocommit=True)
    for table in TABLES:
        columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
        old, new = _rows(source, table, columns), _rows(target, table, columns)
        assert old == new, table
        assert old or table == "runner", f"the home has no {table} row: the test proves nothing"
    source.close()
    target.close()

    # The home now runs on PostgreSQL: same state, same token, ids continue past the old ones.
    settings = load_settings(home, {DATABASE_URL_ENV: url})
    open_db(settings.db_location)
    assert campaigns.status(cid).to_json() == before
    assert home_token() == token
    assert Runner.create(campaign=cid, pid=1, host="h", heartbeat_at=0).id > runner
    assert campaigns.create(settings, "next", "email", "people", "Hi", subject="S").id > draft
    (home / "more.csv").write_text("email\nnew@example.com\n")
    contacts.import_csv(home / "more.csv", home, "more")
    ids = sorted(c.id for c in Contact.select())
    assert ids[-1] == 13 and len(ids) == 13
    close_db()

    code, out, err = cli("migrate-db", "--to", url)
    assert code == 1 and err.count("\n") == 1
    assert f"is not empty ({len(TABLES)} tables" in err and "only into an empty database" in err
    pg_cluster.drop_database(name)


def test_a_running_campaign_is_refused_and_the_target_stays_empty(home, pg_cluster, cli):
    settings, cid = make_home(home, count=3)
    control.launch(settings, cid, start=False)
    close_db()
    name = pg_cluster.create_database()
    code, out, err = cli("migrate-db", "--to", pg_cluster.url(name))
    assert code == 1 and err.count("\n") == 1, err
    assert f"campaign {cid} is queued: pause it or let it finish" in err
    assert pg_cluster.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                          database=name) == [(0,)]
    code, out, err = cli("migrate-db", "--to", "postgresql://u:pw@h/db")
    assert code == 1 and "--to holds a password" in err and "u:pw" not in err
    pg_cluster.drop_database(name)


def test_a_home_its_daemon_serves_is_refused_and_the_target_stays_empty(home, pg_cluster, cli):
    """The daemon would go on with the SQLite file (and fire its schedules from it) while the
    home moves on to PostgreSQL: the same scheduled campaign would go out twice."""
    make_home(home, count=3)
    close_db()
    daemon = subprocess.Popen([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                               "daemon"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll(lambda: (home / "daemon.lock").exists()
             and (home / "daemon.lock").read_text().strip() == str(daemon.pid),
             what="the daemon holds its lock")
        name = pg_cluster.create_database()
        code, out, err = cli("migrate-db", "--to", pg_cluster.url(name))
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    assert code == 1 and err.count("\n") == 1, err
    assert f"the daemon (pid {daemon.pid}) serves this home" in err and "stop it" in err
    assert pg_cluster.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                          database=name) == [(0,)]
    code, out, err = cli("migrate-db", "--to", pg_cluster.url(name))  # once it has stopped
    assert code == 0, err
    pg_cluster.drop_database(name)


@pytest.fixture(autouse=True)
def _postgres():
    require_postgres()


def test_without_the_driver_migrate_db_says_how_to_install_it(tmp_path):
    # It said "[database] url names PostgreSQL" (the user had typed --to) and "pip install
    # 'messagehub-tui[postgres]'", a name the package index does not hold for this project.
    (tmp_path / "messagehub.toml").write_text("")
    tmp_path.chmod(0o700)
    script = ("import sys; sys.modules['psycopg'] = None\n"  # an install without the extra
              "from messagehub_tui.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    done = subprocess.run([sys.executable, "-c", script, "--home", str(tmp_path), "init"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-c", script, "--home", str(tmp_path), "migrate-db",
                           "--to", "postgresql://u@127.0.0.1:1/x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == (
        "messagehub-tui: PostgreSQL needs the psycopg driver, which is not installed: run "
        "python3 -m pip install -e '.[postgres]' in the messagehub-tui checkout\n")


def test_a_target_it_cannot_reach_is_one_line_naming_the_target(home, cli):
    # It said "database error in <the home>: … Connection refused\n\tIs the server running …":
    # the home's SQLite file was not at fault, and libpq's line break came out as "\n\t".
    from tests.peers import free_port

    make_home(home, count=1)
    close_db()
    url = f"postgresql://messagehub@127.0.0.1:{free_port()}/mh"
    code, out, err = cli("migrate-db", "--to", url)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"messagehub-tui: cannot connect to {url}: "), err
    assert "Connection refused Is the server running" in err and "PGPASSWORD" in err
    assert "\\n" not in err and str(home) not in err
