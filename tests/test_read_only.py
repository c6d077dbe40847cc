"""Read-only commands never need the write lock: they answer while another process writes, and
while the disk is full; `doctor` says when the outbox cannot take a message and why."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers import require

READ_ONLY = [["status", "1"], ["campaigns"], ["lists"], ["preview", "1"], ["suppressions"]]


def run(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def make_home(home: Path) -> None:
    csv = home.parent / f"{home.name}-people.csv"
    csv.write_text("email\nann@example.com\nbob@example.com\n")
    assert run(home, "import", str(csv), "--list", "people").returncode == 0
    created = subprocess.run(
        [sys.executable, "-m", "messagehub_tui", "--home", str(home), "create", "--name", "n",
         "--channel", "email", "--list", "people", "--subject", "s", "--body", "-"],
        input="hello", capture_output=True, text=True, timeout=120)
    assert created.stdout.strip() == "1", created.stderr


def test_read_only_commands_do_not_wait_for_a_writer(tmp_path):
    home = tmp_path / "home"
    make_home(home)
    writer = sqlite3.connect(home / "messagehub.db", timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE campaign SET name = 'being renamed' WHERE id = 1")
    try:
        for args in READ_ONLY:
            started = time.monotonic()
            result = run(home, *args)
            took = time.monotonic() - started
            assert result.returncode == 0, (args, result.stderr)
            assert result.stderr == ""
            # The busy timeout is 30 s: a command that needed the lock would wait that long.
            assert took < 20, (args, took)
        assert '"name": "n"' in run(home, "status", "1").stdout
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.fixture
def full_disk(tmp_path):
    """A 3 MiB tmpfs holding a home, then filled up to the last byte."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs",
                              str(mount)], capture_output=True).returncode == 0
    require(mounted, "permission to mount a tmpfs (run as root)")
    try:
        home = mount / "home"
        make_home(home)
        # unbuffered: a buffered file would raise ENOSPC again from close(), flushing its rest
        with open(mount / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        # a byte-sized write fails too: nothing is left for a message
        with pytest.raises(OSError), open(mount / "one-more", "wb") as extra:
            extra.write(b"\0" * 4096)
            extra.flush()
            os.fsync(extra.fileno())
        yield home
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def assert_reads_answer(home):
    for args in READ_ONLY:
        result = run(home, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert '"status": "draft"' in run(home, "status", "1").stdout


def test_status_works_and_doctor_says_disk_full(full_disk):
    home = full_disk
    assert_reads_answer(home)
    doctor = run(home, "doctor")
    assert doctor.returncode == 1
    outbox = [line for line in doctor.stdout.splitlines() if line[6:].startswith("outbox ")]
    assert len(outbox) == 1 and outbox[0].startswith("FAIL")
    assert "disk full" in outbox[0] and str(home) in outbox[0]
    writing = run(home, "suppress", "x@example.com", "--channel", "email")
    assert writing.returncode == 1 and writing.stderr.count("\n") == 1
    assert "the disk is full: free some space and try again" in writing.stderr


def test_doctor_says_how_much_room_the_outbox_has(tmp_path):
    home = tmp_path / "home"
    make_home(home)
    doctor = run(home, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    line = next(line for line in doctor.stdout.splitlines() if line[6:].startswith("outbox "))
    assert line.startswith("ok") and " free)" in line
    assert list((home / "outbox").iterdir()) == []


@pytest.fixture
def read_only_home(tmp_path):
    """A home seen through a read-only bind mount (a backup, a snapshot, another's share)."""
    home = tmp_path / "home"
    make_home(home)
    view = tmp_path / "view"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(home), str(view)],
                             capture_output=True).returncode == 0
    require(mounted, "permission to bind-mount (run as root)")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_read_only_home_still_answers_reads_and_says_why_writes_fail(read_only_home):
    # The walk: every command on a read-only home said only "database error in HOME: unable
    # to open database file", the reading ones too (WAL needs its -shm file beside the database).
    home = read_only_home
    assert_reads_answer(home)
    writing = run(home, "suppress", "x@example.com", "--channel", "email")
    assert writing.returncode == 1 and writing.stderr.count("\n") == 1, writing.stderr
    assert f"the home {home} is read-only here" in writing.stderr
