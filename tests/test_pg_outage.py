"""PostgreSQL ends a runner's connection (the server restarts, an administrator terminates it, a
failover): the runner stops with one line in the campaign's log, not a traceback, keeps what it
sent in its journal, and the campaign resumes with nobody sent twice."""

from urllib.parse import urlsplit

import pytest

from messagehub_tui import control
from messagehub_tui.database import close_db, open_db
from messagehub_tui.models import Campaign
from messagehub_tui.workers.supervisor import recover
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.test_engine_control import assert_no_duplicates
from tests.test_engine_smtp import smtp_toml


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_runner_whose_database_connection_ends_stops_in_one_line(home, smtp_server,
                                                                    pg_cluster):
    port, handler = smtp_server
    handler.delay = 0.05
    settings, cid = make_home(home, smtp_toml(port, connections=2), count=200)
    runners = control.launch(settings, cid).runners
    poll(lambda: len(handler.recipients()) >= 10, what="sends under way")
    database = urlsplit(str(settings.db_location)).path.lstrip("/")
    close_db()  # ours too would be ended: reopened below
    pg_cluster.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
    runners[0].wait(timeout=30)
    open_db(settings.db_location)
    log = (home / "logs" / f"campaign-{cid}.log").read_text()
    assert "Traceback" not in log, log
    assert "lost its database connection" in log, log
    # no sent message is lost: the journal has them; recovery records them and resumes
    assert recover(settings) == [cid]
    assert Campaign.get_by_id(cid).status == "interrupted"
    control.resume(settings, cid)
    wait_status(cid, "completed")
    final = counts_add_up(cid)
    assert final["sent"] + final["unknown"] == 200
    assert_no_duplicates(handler, cid)
