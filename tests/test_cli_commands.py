"""Every command end to end through the real CLI in a subprocess: its exit code and its output."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time

from tests.clitools import (
    COMMAND,
    campaign_with,
    db_value,
    ok,
    run,
    smtp_config,
)
from tests.peers import free_port, require
from tests.test_cli_control import wait_status


def test_suppress_unsuppress_and_suppressions(tmp_path):
    added = run(tmp_path, "suppress", "Ann@Example.com", "bob@example.com", "--channel", "email",
                "--reason", "asked to stop")
    assert (added.returncode, added.stdout) == (0, "suppressed 2 new addresses on email\n")
    ok(tmp_path, "suppress", "+1 415 555 0101", "--channel", "sms")
    rows = [line.split("\t") for line in ok(tmp_path, "suppressions").splitlines()]
    assert sorted((row[0], row[1], row[3]) for row in rows) == [
        ("email", "ann@example.com", "asked to stop"),
        ("email", "bob@example.com", "asked to stop"),
        ("sms", "+14155550101", "")]
    removed = run(tmp_path, "unsuppress", "ann@example.com", "--channel", "email")
    assert (removed.returncode, removed.stdout) == (0, "removed 1 suppression on email\n")
    assert [line.split("\t")[1] for line in ok(tmp_path, "suppressions", "--channel",
                                                "email").splitlines()] == ["bob@example.com"]
    bad = run(tmp_path, "suppress", "not-an-address", "--channel", "email")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_lists_and_suppressions_json(tmp_path):
    # They had no --json (campaigns, status, deliveries do), and suppressions printed local times.
    ok(tmp_path, "suppress", "ann@example.com", "--channel", "email", "--reason", "asked")
    ok(tmp_path, "suppress", "+1 415 555 0101", "--channel", "sms")
    (tmp_path / "people.csv").write_text("email\np1@example.com\np2@example.com\n")
    ok(tmp_path, "import", str(tmp_path / "people.csv"), "--list", "people")
    rows = json.loads(ok(tmp_path, "suppressions", "--json"))
    created = {row.pop("created_at") for row in rows}
    assert all(len(at) == 20 and at[10] == "T" and at.endswith("Z") for at in created), created
    assert sorted(rows, key=lambda row: row["address"]) == [
        {"channel": "sms", "address": "+14155550101", "reason": "", "campaign_id": None},
        {"channel": "email", "address": "ann@example.com", "reason": "asked",
         "campaign_id": None}]
    assert [row["address"] for row in json.loads(
        ok(tmp_path, "suppressions", "--channel", "sms", "--json"))] == ["+14155550101"]
    assert json.loads(ok(tmp_path, "lists", "--json")) == [{"name": "people", "members": 2}]
    both = run(tmp_path, "lists", "--json", "--delete", "people")
    assert both.returncode == 2 and both.stderr.count("\n") == 1, both.stderr  # usage line
    assert "not allowed with argument" in both.stderr


def test_a_suppression_reason_is_one_line_and_suppressions_one_a_line(tmp_path):
    # --reason $'asked\tby phone\nand mail' was kept as typed: `suppressions` then printed a
    # row of five tab-separated fields and a line "and mail" that read as a row of its own.
    refused = run(tmp_path, "suppress", "zed@example.com", "--channel", "email", "--reason",
                  "asked\tby phone\nand mail")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--reason: must be one line" in refused.stderr
    assert not (tmp_path / "messagehub.db").exists()  # checked before anything happens
    # a reason heard from a server (a DSN's diagnostic) may hold one: shown escaped
    ok(tmp_path, "suppress", "zed@example.com", "--channel", "email")
    with sqlite3.connect(tmp_path / "messagehub.db") as connection:
        connection.execute("UPDATE suppression SET reason = 'bounced: 550\tno such\nuser'")
    lines = ok(tmp_path, "suppressions").splitlines()
    assert len(lines) == 1 and lines[0].split("\t")[3] == "bounced: 550\\tno such\\nuser", lines


def test_launch_pause_resume_cancel_delete(tmp_path):
    campaign_id = campaign_with(tmp_path, [f"l{i}@example.com" for i in range(30)], rate=2)
    launched = run(tmp_path, "launch", campaign_id)
    assert (launched.returncode, launched.stdout) == (
        0, f"campaign {campaign_id} launched: 30 to send\n")
    wait_status(tmp_path, campaign_id, "running")
    paused = run(tmp_path, "pause", campaign_id)
    assert (paused.returncode, paused.stdout) == (
        0, f"campaign {campaign_id} pausing\ncampaign {campaign_id} is paused\n")
    resumed = run(tmp_path, "resume", campaign_id)
    assert (resumed.returncode, resumed.stdout) == (
        0, f"campaign {campaign_id} resumed\ncampaign {campaign_id} is running\n"), resumed.stderr
    cancelled = run(tmp_path, "cancel", campaign_id)
    assert (cancelled.returncode, cancelled.stdout) == (
        0, f"campaign {campaign_id} cancelling\ncampaign {campaign_id} is cancelled\n")
    counts = db_value(tmp_path, "SELECT COUNT(*) FROM delivery WHERE campaign_id = ? AND "
                                "status = 'cancelled'", campaign_id)
    assert 0 < counts < 30

    kept = run(tmp_path, "delete", campaign_id)
    assert kept.returncode == 1
    assert kept.stderr == (f"messagehub-tui: campaign {campaign_id} is not a draft; only drafts "
                           "can be deleted\n")
    draft = ok(tmp_path, "create", "--name", "d", "--channel", "email", "--list", "people",
               "--subject", "s", "--body", str(tmp_path / "body.txt")).strip()
    assert ok(tmp_path, "delete", draft) == f"deleted campaign {draft}\n"
    assert run(tmp_path, "status", draft).returncode == 1


def test_retry_failed_and_send_test(tmp_path, rejecting_smtp):
    smtp_config(tmp_path, rejecting_smtp)
    campaign_id = campaign_with(tmp_path, ["good@example.com", "bad1@example.com",
                                           "bad2@example.com"])
    assert run(tmp_path, "send", campaign_id).returncode == 3
    retried = run(tmp_path, "retry", campaign_id, "--failed")
    assert (retried.returncode, retried.stdout) == (
        0, f"campaign {campaign_id}: 2 deliveries back to pending\n")
    wait_status(tmp_path, campaign_id, "completed")
    attempts = db_value(tmp_path, "SELECT SUM(attempts) FROM delivery WHERE campaign_id = ? AND "
                                  "status = 'failed'", campaign_id)
    assert attempts == 2  # counted afresh: one new attempt each
    nothing = run(tmp_path, "retry", campaign_id, "--unknown")
    assert (nothing.returncode, nothing.stdout) == (
        0, f"campaign {campaign_id} has no unknown deliveries\n")

    sent = run(tmp_path, "send-test", campaign_id, "--to", "me@example.com")
    assert sent.returncode == 0 and sent.stdout.startswith("test message sent to me@example.com")
    refused = run(tmp_path, "send-test", campaign_id, "--to", "bad-me@example.com")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("messagehub-tui: test message to bad-me@example.com not "
                                     "sent: ") and "no such user" in refused.stderr


def test_retry_skips_an_address_suppressed_since_it_failed(tmp_path, rejecting_smtp):
    # A number that replied STOP (Twilio 21610) fails and is suppressed; `retry` sent to it
    # again. Same for an email address suppressed after it failed.
    smtp_config(tmp_path, rejecting_smtp)
    campaign_id = campaign_with(tmp_path, ["good@example.com", "bad1@example.com",
                                           "bad2@example.com"])
    assert run(tmp_path, "send", campaign_id).returncode == 3
    ok(tmp_path, "suppress", "bad1@example.com", "--channel", "email")
    retried = run(tmp_path, "retry", campaign_id)
    assert (retried.returncode, retried.stdout) == (
        0, f"campaign {campaign_id}: 1 deliveries back to pending, 1 skipped (suppressed "
           "since)\n"), retried.stderr
    wait_status(tmp_path, campaign_id, "completed")
    rows = db_value(tmp_path, "SELECT group_concat(address || ' ' || status || ' ' || attempts, "
                              "', ') FROM (SELECT * FROM delivery WHERE campaign_id = ? "
                              "AND address LIKE 'bad%' ORDER BY address)", campaign_id)
    assert rows == "bad1@example.com skipped 1, bad2@example.com failed 1"  # not tried again
    only = run(tmp_path, "suppress", "bad2@example.com", "--channel", "email")
    assert only.returncode == 0
    nothing = run(tmp_path, "retry", campaign_id)
    assert (nothing.returncode, nothing.stdout) == (
        0, f"campaign {campaign_id}: 0 deliveries back to pending, 1 skipped (suppressed "
           "since)\n")
    assert json.loads(ok(tmp_path, "status", campaign_id, "--json"))["counts"]["skipped"] == 2


def test_doctor_in_outbox_mode_and_with_an_unreachable_server(tmp_path):
    assert run(tmp_path, "init").returncode == 0
    fine = run(tmp_path, "doctor")
    assert fine.returncode == 0, fine.stdout
    assert all(line.startswith("ok ") for line in fine.stdout.splitlines())
    assert any(" outbox " in line for line in fine.stdout.splitlines())
    smtp_config(tmp_path, free_port())  # nothing listens there
    failing = run(tmp_path, "doctor")
    assert failing.returncode == 1
    assert any(line.startswith("FAIL") and "smtp" in line and "cannot connect" in line
               for line in failing.stdout.splitlines()), failing.stdout


def test_doctor_reports_a_stopped_database_server_and_runs_the_other_checks(tmp_path):
    """A [database] url whose server is down (nothing listens on its port) is one FAIL line;
    the checks that need no database (config, outbox, smtp) still run."""
    tmp_path.chmod(0o700)
    smtp_config(tmp_path, free_port())  # nothing listens there either
    url = f"postgresql://messagehub@127.0.0.1:{free_port()}/messagehub"
    with (tmp_path / "messagehub.toml").open("a") as toml:
        toml.write(f'\n[database]\nurl = "{url}"\n')
    done = run(tmp_path, "doctor", timeout=60)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL  database")]
    assert len(failed) == 1, done.stdout
    assert url in failed[0] and "Connection refused" in failed[0], failed[0]
    assert "check [database] url" in failed[0]
    assert [line.split()[1] for line in lines] == ["config", "database", "outbox", "smtp",
                                                  "sms"], lines
    assert lines[2].startswith("ok    outbox")
    assert lines[3].startswith("FAIL  smtp") and "cannot connect" in lines[3]
    assert done.stderr == "" and "Traceback" not in done.stdout


def test_demo_fills_the_home_once(tmp_path):
    filled = run(tmp_path, "demo", "--no-app")
    assert filled.returncode == 0, filled.stderr
    assert filled.stdout.startswith("demo: imported ") and "3 campaigns created" in filled.stdout
    shown = json.loads(ok(tmp_path, "campaigns", "--json"))
    assert sorted((row["name"], row["status"]) for row in shown) == [
        ("Monthly newsletter", "draft"), ("Renewal reminder", "draft"),
        ("Weekend offer", "scheduled")]
    again = ok(tmp_path, "demo", "--no-app")
    assert again == "the demo home already has campaigns; opening it as it is\n"


def test_demo_opens_the_app_in_tmux(tmp_path):
    require(shutil.which("tmux") is not None, "tmux")
    session = f"demo-{tmp_path.name}"
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    command = " ".join([*COMMAND, "--home", str(tmp_path), "demo"])
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command],
                   check=True)
    try:
        screen = ""
        deadline = time.monotonic() + 90
        while "Weekend offer" not in screen:
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
        assert "Monthly newsletter" in screen and "Renewal reminder" in screen
        subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=True)
        while subprocess.run([*tmux, "has-session", "-t", session],
                             capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "the app did not quit on q"
            time.sleep(0.2)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def test_doctor_says_whether_a_daemon_fires_the_schedules(tmp_path):
    # "Nothing went out" is most often no daemon: doctor checked everything but that.
    campaign_id = campaign_with(tmp_path, ["d1@example.com"])
    ok(tmp_path, "schedule", campaign_id, "--at", "+1d")
    line = next(line for line in ok(tmp_path, "doctor").splitlines() if " daemon " in line)
    assert line.startswith("ok") and "1 scheduled campaign(s) go out only while the app is " \
        f"open; start one with `messagehub-tui --home {tmp_path} daemon`" in line, line
    daemon = subprocess.Popen([*COMMAND, "--home", str(tmp_path), "daemon"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while f"pid {daemon.pid} serves this home" not in ok(tmp_path, "doctor"):
            assert time.monotonic() < deadline and daemon.poll() is None, "no daemon seen"
            time.sleep(0.2)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
