"""`send` end to end: it returns as soon as the campaign settles, and its exit code says how it
went."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller

from messagehub_tui.cli_delivery import PROGRESS_EVERY
from tests.clitools import (
    COMMAND,
    campaign_with,
    db_value,
    run,
    smtp_config,
    stored_time,
)
from tests.engine import poll
from tests.peers import RecordingHandler, free_port


class HeldHandler(RecordingHandler):
    """Records messages, each answered only once `release` is set."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 120)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def held_smtp():
    handler = HeldHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler
    handler.release.set()
    controller.stop()


def test_send_without_a_terminal_returns_right_after_the_campaign_finishes(tmp_path, held_smtp):
    """`send` notices the campaign settle at its next poll, not at its next progress line. The
    message is held until a progress line has been printed, so the campaign settles at the start
    of a progress interval: a `send` that learnt of it only when reporting would return about
    PROGRESS_EVERY after it finished, not within a small part of it."""
    port, handler = held_smtp
    smtp_config(tmp_path, port)
    campaign_id = campaign_with(tmp_path, ["q0@example.com"])
    output = tmp_path / "send.out"
    with output.open("w") as out:
        sender = subprocess.Popen([*COMMAND, "--home", str(tmp_path), "send", campaign_id],
                                  stdout=out, stderr=subprocess.PIPE, text=True)
        try:
            poll(lambda: "sent 0/1 failed 0" in output.read_text(), what="a progress line")
        finally:
            handler.release.set()
        sender.wait(timeout=120)
        returned = datetime.now(UTC).replace(tzinfo=None)
    assert sender.returncode == 0, sender.stderr.read()
    assert f"campaign {campaign_id} completed: sent 1" in output.read_text()
    finished = stored_time(tmp_path, "SELECT finished_at FROM campaign WHERE id = ?", campaign_id)
    print(f"send returned {(returned - finished).total_seconds():.3f} s after finished_at")
    assert (returned - finished).total_seconds() < PROGRESS_EVERY / 2, (finished, returned)


def test_send_exits_3_when_the_campaign_finished_with_failures(tmp_path, rejecting_smtp):
    smtp_config(tmp_path, rejecting_smtp)
    campaign_id = campaign_with(tmp_path, ["good1@example.com", "bad1@example.com",
                                           "good2@example.com"])
    done = run(tmp_path, "send", campaign_id)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert f"campaign {campaign_id} completed: sent 2, failed 1" in done.stdout
    assert f"deliveries {campaign_id} --status failed" in done.stderr


def _wait_running(home, campaign_id: str) -> None:
    deadline = time.monotonic() + 60
    while db_value(home, "SELECT status FROM campaign WHERE id = ?", campaign_id) != "running":
        assert time.monotonic() < deadline, "the campaign never started running"
        time.sleep(0.05)


@pytest.mark.parametrize("stop, final", [("pause", "paused"), ("cancel", "cancelled")])
def test_send_exits_4_when_the_campaign_is_paused_or_cancelled_elsewhere(tmp_path, stop, final):
    campaign_id = campaign_with(tmp_path, [f"s{i}@example.com" for i in range(20)], rate=2)
    sender = subprocess.Popen([*COMMAND, "--home", str(tmp_path), "send", campaign_id],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_running(tmp_path, campaign_id)
    stopped = run(tmp_path, stop, campaign_id)
    assert stopped.returncode == 0, stopped.stderr
    out, err = sender.communicate(timeout=60)
    assert sender.returncode == 4, (out, err)
    assert f"campaign {campaign_id} {final}: " in out


def test_send_exit_codes_for_errors_and_usage(tmp_path):
    assert run(tmp_path, "init").returncode == 0
    missing = run(tmp_path, "send", "7")
    assert missing.returncode == 1
    assert missing.stderr == "messagehub-tui: campaign 7 does not exist\n"
    campaign_id = campaign_with(tmp_path, ["once@example.com"])
    assert run(tmp_path, "send", campaign_id).returncode == 0
    again = run(tmp_path, "send", campaign_id)
    assert again.returncode == 1 and "completed" in again.stderr and "Traceback" not in again.stderr
    assert run(tmp_path, "send").returncode == 2


def test_send_and_resume_say_at_once_when_the_runners_cannot_start(tmp_path):
    """A runner that dies before it registers (here: a stray `messagehub_tui.py` in the home, its
    working directory, shadows the package: what a broken install looks like) leaves the
    campaign queued with nobody to send it: `send` says so in one line and exits non-zero instead
    of waiting at 0% for ever, and the campaign is interrupted, resumable once repaired."""
    campaign_id = campaign_with(tmp_path, [f"b{i}@example.com" for i in range(20)])
    shadow = tmp_path / "messagehub_tui.py"
    shadow.write_text("")
    done = run(tmp_path, "send", campaign_id, timeout=60)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert f"campaign {campaign_id} interrupted: sent 0" in done.stdout
    said = [line for line in done.stderr.splitlines() if "before sending" in line]
    assert len(said) == 1, done.stderr
    assert "its runner exited with status 1 before sending: " in said[0]
    assert "No module named 'messagehub_tui.workers'; 'messagehub_tui' is not a package" \
        in said[0]
    assert f"campaign-{campaign_id}.log" in said[0]
    assert "Traceback" not in done.stderr
    assert db_value(tmp_path, "SELECT status FROM campaign WHERE id = ?",
                    campaign_id) == "interrupted"

    resumed = run(tmp_path, "resume", campaign_id, "--wait", "60", timeout=50)
    assert resumed.returncode == 1, (resumed.stdout, resumed.stderr)
    assert "did not resume: it is interrupted: its runner exited with status 1 before " \
           "sending" in resumed.stderr

    shadow.unlink()
    again = run(tmp_path, "send", campaign_id)
    assert again.returncode == 0, (again.stdout, again.stderr)
    assert f"campaign {campaign_id} completed: sent 20" in again.stdout
