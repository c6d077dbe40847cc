"""pause, cancel and resume say whether the campaign got there, and exit 1 when it did not;
status and campaigns say when a running campaign's runners are gone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from messagehub_tui.config_load import load_settings
from messagehub_tui.models import CampaignStatus
from messagehub_tui.workers.registry import process_alive
from tests.clitools import (
    campaign_with,
    db_value,
    ok,
    run,
    smtp_config,
)
from tests.engine import poll
from tests.test_crash import freeze_outside_a_write


def wait_status(home, campaign_id: str, *wanted: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (status := db_value(home, "SELECT status FROM campaign WHERE id = ?",
                              campaign_id)) not in wanted:
        assert time.monotonic() < deadline, f"campaign is {status}, never {wanted}"
        time.sleep(0.05)
    return status


def test_pause_and_cancel_exit_1_when_the_runner_does_not_stop(tmp_path):
    campaign_id = campaign_with(tmp_path, [f"r{i}@example.com" for i in range(30)], rate=2)
    ok(tmp_path, "launch", campaign_id)
    wait_status(tmp_path, campaign_id, "running")
    runner = db_value(tmp_path, "SELECT pid FROM runner WHERE campaign_id = ?", campaign_id)
    # a runner that cannot act on the request (frozen outside a write: inside one it would hold
    # SQLite's write lock, and the pause below would wait for that instead)
    freeze_outside_a_write(runner, load_settings(tmp_path))
    try:
        paused = run(tmp_path, "pause", campaign_id, "--wait", "1")
        assert paused.returncode == 1
        assert paused.stdout == f"campaign {campaign_id} pausing\n"
        assert paused.stderr == (
            f"messagehub-tui: campaign {campaign_id} did not pause: it is still running after "
            f"1 s (the request stands: check with `messagehub-tui status {campaign_id}`)\n")
        cancelled = run(tmp_path, "cancel", campaign_id, "--wait", "0.5")
        assert cancelled.returncode == 1
        assert "did not cancel: it is still running after 0.5 s" in cancelled.stderr
    finally:
        os.kill(runner, signal.SIGCONT)
    assert wait_status(tmp_path, campaign_id, "cancelled", "paused") == "cancelled"
    late = run(tmp_path, "pause", campaign_id)
    assert late.returncode == 1 and "is cancelled" in late.stderr


def test_resume_exits_1_when_the_campaign_pauses_again_at_once(tmp_path, refusing_smtp):
    smtp_config(tmp_path, refusing_smtp)
    campaign_id = campaign_with(tmp_path, ["a@example.com", "b@example.com"])
    sent = run(tmp_path, "send", campaign_id)
    assert sent.returncode == 4 and "refuses this client" in sent.stderr
    resumed = run(tmp_path, "resume", campaign_id)
    assert resumed.returncode == 1
    assert resumed.stdout == f"campaign {campaign_id} resumed\n"
    assert resumed.stderr.startswith(f"messagehub-tui: campaign {campaign_id} did not resume: it "
                                     "is paused: the SMTP server refuses this client")


def test_status_and_campaigns_say_when_a_running_campaigns_runners_are_gone(tmp_path):
    campaign_id = campaign_with(tmp_path, [f"r{i}@example.com" for i in range(60)], rate=1)
    # one runner, so that killing the one registered leaves none to register later
    (tmp_path / "messagehub.toml").write_text("[delivery]\nprocesses = 1\n")
    ok(tmp_path, "launch", campaign_id)
    wait_status(tmp_path, campaign_id, "running")
    alive = json.loads(ok(tmp_path, "status", campaign_id, "--json"))
    assert alive["status"] == "running" and alive["runners_gone"] is False
    pid = db_value(tmp_path, "SELECT pid FROM runner WHERE campaign_id = ?", campaign_id)
    os.kill(pid, signal.SIGKILL)
    poll(lambda: not process_alive(pid), what="the killed runner gone")
    note = (f"messagehub-tui: note: campaign {campaign_id} is running, but its runners are gone: "
            f"a writing command, the app or the daemon will mark it interrupted; "
            f"`resume {campaign_id}` continues\n")
    for args in (["status", campaign_id], ["status", campaign_id, "--json"]):
        done = run(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        state = json.loads(done.stdout)
        assert state["status"] == "running" and state["runners_gone"] is True
        assert done.stderr == note
    listed = run(tmp_path, "campaigns")
    assert listed.returncode == 0 and listed.stderr == note
    row = listed.stdout.splitlines()[1].split()
    assert row[0] == campaign_id and row[3] == "running*", listed.stdout
    as_json = json.loads(ok(tmp_path, "campaigns", "--json"))
    assert [c["runners_gone"] for c in as_json] == [True]
    # the readers stayed readers: the campaign is still marked running until a writer recovers
    assert db_value(tmp_path, "SELECT status FROM campaign WHERE id = ?", campaign_id) == "running"
    ok(tmp_path, "resume", campaign_id)  # a writer: recovery settles the dead runner first
    assert json.loads(ok(tmp_path, "status", campaign_id, "--json"))["runners_gone"] is False
    run(tmp_path, "cancel", campaign_id)


def test_pausing_a_scheduled_campaign_says_how_to_take_it_back(tmp_path):
    campaign_id = campaign_with(tmp_path, ["a@example.com"])
    ok(tmp_path, "schedule", campaign_id, "--at", "+1d")
    done = run(tmp_path, "pause", campaign_id)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        f"only a queued or running campaign can be paused; clearing its schedule "
        f"(`schedule {campaign_id} --clear`) takes it back to a draft"), done.stderr
    ok(tmp_path, "schedule", campaign_id, "--clear")
    assert db_value(tmp_path, "SELECT status FROM campaign WHERE id = ?", campaign_id) == "draft"


def test_campaigns_and_status_say_a_campaign_is_overdue_and_what_to_do(tmp_path):
    # Its time passed while nothing ran: it showed a bare `scheduled` with a past time.
    campaign_id = campaign_with(tmp_path, ["a@example.com"])
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
    with sqlite3.connect(tmp_path / "messagehub.db") as connection:
        connection.execute("UPDATE campaign SET status = ?, scheduled_at = ? WHERE id = ?",
                           (CampaignStatus.SCHEDULED.value, past, campaign_id))
    listed = run(tmp_path, "campaigns")
    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1]
    assert row.split()[3] == "scheduled" and row.endswith(" (overdue)"), listed.stdout
    for done in (listed, run(tmp_path, "status", campaign_id)):
        notes = done.stderr.splitlines()
        assert notes[0] == (f"messagehub-tui: note: campaign {campaign_id} is overdue: it waits "
                            "for a daemon or the app, which send it at once (or mark it missed, "
                            "to launch by hand, once [schedule] misfire_grace has passed)")
        assert "daemon` (in tmux or under systemd)" in notes[1], done.stderr
    # one a minute ahead is not overdue
    ok(tmp_path, "schedule", campaign_id, "--at", "+1h")
    listed = run(tmp_path, "campaigns")
    assert "overdue" not in listed.stdout + listed.stderr
