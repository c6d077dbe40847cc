"""A full disk and a busy writer: the runner pauses with the reason, nothing is counted twice,
and starting a read-only command takes no write lock."""

import os

import pytest

from messagehub_tui import campaigns, control
from messagehub_tui.models import Campaign
from messagehub_tui.workers.supervisor import recover
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.test_crash import addresses
from tests.test_engine_smtp import smtp_toml


@pytest.fixture
def small_home(tmp_path):
    """A home on its own 8 MiB tmpfs, so the test can fill the disk (needs root)."""
    import subprocess

    from messagehub_tui.database import close_db
    from tests.peers import require
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True).returncode == 0
    require(mounted, "permission to mount a tmpfs (root) for the disk-full test")
    yield mount
    close_db()
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder):
    """Write a ballast file until the disk is full; returns it."""
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as handle:
        for size in (65536, 4096, 512):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError:
                pass
    return ballast


def test_disk_full_pauses_with_the_reason_and_counts_nothing_twice(small_home, smtp_server):
    port, handler = smtp_server
    total = 300
    settings, cid = make_home(small_home, smtp_toml(port, connections=2, rate=60), count=total)
    runner = control.launch(settings, cid).runners[0]
    poll(lambda: campaigns.status(cid).counts.sent >= 20, what="first sends")
    ballast = fill(small_home)
    try:
        poll(lambda: runner.poll() is not None, timeout=30, what="the runner stopping")
        at_stop = Campaign.get_by_id(cid)
        recovered = recover(settings)  # on the full disk: postponed or done, never an error
    finally:
        ballast.unlink()
    recovered += recover(settings)
    campaign = Campaign.get_by_id(cid)
    counts = counts_add_up(cid)
    received = handler.recipients()
    print(f"\ndisk full: runner left the campaign {at_stop.status} ({at_stop.last_error}); "
          f"after recovery {campaign.status}, {counts}")
    assert runner.returncode == 0, (small_home / "logs" / f"campaign-{cid}.log").read_text()
    assert campaign.status in ("paused", "interrupted") and recovered in ([], [cid])
    assert campaign.last_error.startswith("disk full: "), campaign.last_error
    assert counts["sending"] == 0 and counts["unknown"] <= 2
    assert all(n == 1 for n in received.values())
    assert addresses(cid, "sent") == set(received) - addresses(cid, "unknown")
    control.resume(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] + counts["unknown"] == total
    assert all(n == 1 for n in handler.recipients().values())


def test_a_read_only_command_does_not_wait_for_a_writer(home):
    """status while another process holds the write lock: no start-up write (open, recovery)."""
    import sqlite3
    import subprocess
    import sys
    import time

    settings, cid = make_home(home, "", count=3)
    writer = sqlite3.connect(settings.db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        shown = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                                "status", str(cid), "--json"],
                               capture_output=True, text=True, timeout=25)
        took = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert shown.returncode == 0, shown.stderr
    assert '"status": "draft"' in shown.stdout and took < 15, took
