"""Issue 13's loop: a campaign through a real Postfix, its own DSN and a real auto-reply read back
from a real Dovecot; only the unknown user is suppressed and nothing else in the mailbox moves."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from tests.clitools import COMMAND, campaign_with, ok, run
from tests.mailloop import DOMAIN, IMAP_PASSWORD

UNRELATED = (b"From: Ann Person <ann@elsewhere.test>\r\nTo: bounces@" + DOMAIN.encode() +
             b"\r\nSubject: Lunch on Friday?\r\nMessage-ID: <lunch-1@elsewhere.test>\r\n"
             b"\r\nAre you free on Friday? The user unknown@" + DOMAIN.encode() +
             b" said yes.\r\n")


def _rows(home: Path, sql: str, *params) -> list:
    with sqlite3.connect(home / "messagehub.db") as connection:
        return connection.execute(sql, params).fetchall()


def test_a_campaign_through_postfix_suppresses_exactly_the_unknown_user(tmp_path, loop):
    env = loop.configure(tmp_path)
    loop.send(UNRELATED, f"bounces@{DOMAIN}")
    loop.wait_for("bounces", 1)
    campaign_id = campaign_with(tmp_path, [f"alice@{DOMAIN}", f"ghost@{DOMAIN}",
                                           f"vacation@{DOMAIN}"])
    sent = run(tmp_path, "send", campaign_id, env=env)
    assert sent.returncode == 0, (sent.stdout, sent.stderr, loop.log())
    loop.wait_for("alice", 1)
    loop.wait_for("bounces", 3)  # the unrelated message, Postfix's DSN, the auto-reply

    done = run(tmp_path, "bounces", "check", env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"bounce hard: ghost@{DOMAIN} (campaign {campaign_id})")
               and line.endswith("suppressed, moved") for line in lines), done.stdout
    assert sum(line.startswith("auto-reply left") for line in lines) == 1, done.stdout
    assert sum(line.startswith("unrelated left") for line in lines) == 1, done.stdout
    assert "3 new messages" in lines[-1] and "1 moved" in lines[-1], done.stdout

    suppressed = _rows(tmp_path, "SELECT address, reason FROM suppression")
    assert suppressed == [(f"ghost@{DOMAIN}",
                           f'bounced: X-Postfix; unknown user: "ghost@{DOMAIN}"')]
    events = _rows(tmp_path, "SELECT message FROM event WHERE campaign_id = ? AND message "
                             "LIKE '%bounce%'", int(campaign_id))
    assert len(events) == 1 and f"ghost@{DOMAIN}" in events[0][0], events
    assert _rows(tmp_path, "SELECT error FROM delivery WHERE address = ?", f"ghost@{DOMAIN}") \
        == [(f'X-Postfix; unknown user: "ghost@{DOMAIN}"',)]
    counted = json.loads(ok(tmp_path, "status", campaign_id, "--json"))["feedback"]
    assert (counted["bounced"], counted["complained"], counted["unsubscribed"]) == (1, 0, 0)

    state = loop.mailbox_state()
    assert [subject for subject, _ in state["INBOX"]] == ["Lunch on Friday?", "Out of office: s"]
    assert all("\\Seen" not in flags for _, flags in state["INBOX"]), state
    assert [subject for subject, _ in state["messagehub-processed"]] == [
        "Undelivered Mail Returned to Sender"]

    # the next poll fetches nothing: what was left is remembered (UIDVALIDITY + last UID)
    again = run(tmp_path, "bounces", "check", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "INBOX: 0 new messages (nothing); 0 moved to messagehub-processed, " \
                           "0 left untouched\n", again.stdout
    # --all reads everything again and changes nothing
    every = run(tmp_path, "bounces", "check", "--all", env=env)
    assert "INBOX: 2 messages (1 auto-reply, 1 unrelated); 0 moved" in every.stdout, every.stdout
    assert _rows(tmp_path, "SELECT address, reason FROM suppression") == suppressed
    assert _rows(tmp_path, "SELECT message FROM event WHERE campaign_id = ? AND message "
                           "LIKE '%bounce%'", int(campaign_id)) == events
    assert loop.mailbox_state() == state
    assert json.loads(ok(tmp_path, "status", campaign_id, "--json"))["feedback"] == counted
    # only what arrives after that is read
    loop.send(UNRELATED.replace(b"lunch-1", b"lunch-2"), f"bounces@{DOMAIN}")
    loop.wait_for("bounces", 3)
    later = run(tmp_path, "bounces", "check", env=env)
    assert "INBOX: 1 new message (1 unrelated); 0 moved" in later.stdout, later.stdout


def test_doctor_logs_in_to_the_bounce_mailbox(tmp_path, loop):
    env = loop.configure(tmp_path)
    ok(tmp_path, "init")
    done = run(tmp_path, "doctor", env=env)
    assert "logged in as 'bounces'" in done.stdout, (done.stdout, done.stderr)
    wrong = run(tmp_path, "doctor", env={**env, "MESSAGEHUB_IMAP_PASSWORD": "wrong"})
    assert "refused the login of 'bounces'" in wrong.stdout + wrong.stderr, wrong.stdout
    assert "wrong" not in (wrong.stdout + wrong.stderr).replace("'", " ").split()


def test_the_daemon_polls_and_leaves_a_bounce_of_mail_it_did_not_send(tmp_path, loop):
    env = loop.configure(tmp_path, 'poll_every = "1s"\n')
    # Postfix's DSN for a message sent by someone else through the same return address (no token)
    loop.send(b"Subject: not ours\r\nMessage-ID: <other-1@elsewhere.test>\r\n\r\nhi\r\n",
              f"nobody@{DOMAIN}", sender=f"bounces@{DOMAIN}")
    campaign_id = campaign_with(tmp_path, [f"ghost@{DOMAIN}"])
    sent = run(tmp_path, "send", campaign_id, env=env)
    assert sent.returncode == 0, (sent.stdout, sent.stderr)  # accepted: the bounce comes later
    loop.wait_for("bounces", 2)
    daemon = subprocess.Popen([*COMMAND, "--home", str(tmp_path), "daemon"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _rows(tmp_path, "SELECT address FROM suppression"):
            assert daemon.poll() is None, daemon.stderr.read()
            assert time.monotonic() < deadline, (tmp_path / "logs" / "daemon.log").read_text()
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    assert _rows(tmp_path, "SELECT address FROM suppression") == [(f"ghost@{DOMAIN}",)]
    state = loop.mailbox_state()
    assert state["INBOX"] == [("Undelivered Mail Returned to Sender", ())], state
    assert len(state["messagehub-processed"]) == 1
    assert "1 moved" in (tmp_path / "logs" / "daemon.log").read_text()


def test_a_folder_made_anew_under_the_same_name_is_read_from_its_start(tmp_path, loop):
    """UIDs only mean something with the folder's UIDVALIDITY: a new folder starts at UID 1."""
    env = loop.configure(tmp_path, 'imap_folder = "in"\n')
    ok(tmp_path, "init")
    with MailBoxUnencrypted("127.0.0.1", loop.imap_port).login(
            "bounces", IMAP_PASSWORD, initial_folder=None) as box:
        box.folder.create("in")
        box.append(UNRELATED, "in")
        first = run(tmp_path, "bounces", "check", env=env)
        assert "in: 1 new message (1 unrelated)" in first.stdout, (first.stdout, first.stderr)
        assert "in: 0 new messages" in run(tmp_path, "bounces", "check", env=env).stdout
        box.folder.delete("in")
        box.folder.create("in")
        box.append(UNRELATED.replace(b"lunch-1", b"lunch-2"), "in")
    again = run(tmp_path, "bounces", "check", env=env)
    assert "in: 1 new message (1 unrelated)" in again.stdout, (again.stdout, again.stderr)
