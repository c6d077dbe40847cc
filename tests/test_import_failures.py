"""An import that cannot finish says exactly what was saved; the rejects file never costs the
summary."""

import csv
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import write
from tests.peers import require

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def run(home, *args):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=300)


def test_an_unwritable_rejects_path_keeps_the_summary_and_the_rows(home):
    path = write(home / "c.csv", "email\na@example.com\nbad\n")
    (home / "c.rejects.csv").mkdir()  # something in the way of the rejects file
    done = run(home, "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == "imported 1, updated 0, rejected 1 (list c)\n"
    note = done.stderr.splitlines()[-1]
    match = re.fullmatch(r"messagehub-tui: cannot write (\S+) \(Is a directory\); "
                         r"the rejected rows are in (\S+)", note)
    assert match and match.group(1) == str(home / "c.rejects.csv"), done.stderr
    with open(match.group(2), encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1][:3] == [
            "3", "email 'bad' is not valid: An email address must have an @-sign.", "bad"]


ROWS = 60_000


def _big_csv(path):
    """60,000 rows, every 500th one invalid; line L holds user L-2 (the header is line 1)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,phone,first_name,last_name\n")
        for i in range(ROWS):
            if i % 500 == 0:
                handle.write(f"bad{i},,x,y\n")
            else:
                handle.write(f"user{i}@example.com,+1415{2000000 + i:07d},First{i},Last{i}\n")


@pytest.fixture
def small_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    mount = shutil.which("mount")
    done = subprocess.run([mount or "mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(home)],
                          capture_output=True, text=True) if mount else None
    require(done is not None and done.returncode == 0,
            f"permission to mount a tmpfs ({done.stderr.strip() if done else 'no mount'})")
    yield home
    subprocess.run([shutil.which("umount") or "umount", "-l", str(home)], check=False)


def test_disk_full_says_so_and_exactly_what_was_saved(tmp_path, small_home):
    source = tmp_path / "big.csv"
    _big_csv(source)
    assert run(small_home, "init").returncode == 0
    done = run(small_home, "import", str(source))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "cannot rollback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    match = re.fullmatch(
        rf"messagehub-tui: {source}: disk full in {small_home} at line (\d+): lines 2-(\d+) done "
        r"\(imported (\d+), updated 0, rejected (\d+)\); line \1 and after not saved\. Free "
        rf"space in {small_home}, then run the same import again: rows already saved are "
        r"updated, not duplicated", last)
    assert match, done.stderr
    first, through, imported, rejected = map(int, match.groups())
    print(f"disk full after {imported:,} of {ROWS:,} rows")
    assert first == through + 1 and 2 < through < ROWS
    users = range(through - 1)  # lines 2..through
    assert rejected == sum(1 for i in users if i % 500 == 0)
    assert imported == len(users) - rejected
    with sqlite3.connect(small_home / "messagehub.db") as db:
        stored = {row[0] for row in db.execute("SELECT email FROM contact")}
        members = db.execute("SELECT COUNT(*) FROM list_member").fetchone()[0]
    assert stored == {f"user{i}@example.com" for i in users if i % 500}
    assert members == imported
    with (small_home / "big.rejects.csv").open(encoding="utf-8") as handle:
        assert [int(row[0]) for row in list(csv.reader(handle))[1:]] == [
            i + 2 for i in users if i % 500 == 0]

    grown = subprocess.run([shutil.which("mount") or "mount", "-o", "remount,size=64m",
                            str(small_home)], capture_output=True, text=True)
    assert grown.returncode == 0, grown.stderr
    again = run(small_home, "import", str(source))
    assert again.returncode == 0, again.stderr
    bad = ROWS // 500
    assert again.stdout == (f"imported {ROWS - bad - imported}, updated {imported}, "
                            f"rejected {bad} (list big)\n")
    with sqlite3.connect(small_home / "messagehub.db") as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT email) FROM contact").fetchone() == (
            ROWS - bad, ROWS - bad)


def test_ctrl_c_says_which_lines_were_saved_and_a_rerun_finishes(tmp_path):
    import signal
    import time

    source = tmp_path / "big.csv"
    _big_csv(source)
    home = tmp_path / "home"
    home.mkdir()
    assert run(home, "init").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "messagehub_tui", "--home", str(home), "import", str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    with sqlite3.connect(home / "messagehub.db", timeout=30) as db:
        # Interrupt once the first chunks are committed (a state, not a delay).
        while db.execute("SELECT COUNT(*) FROM contact").fetchone()[0] < 2000:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    match = re.search(r"interrupted at line (\d+): lines 2-(\d+) done \(imported (\d+), "
                      r"updated 0, rejected (\d+)\); line \1 and after not saved\. To finish, "
                      r"run the same import again", err)
    assert match, err
    imported = int(match.group(3))
    with sqlite3.connect(home / "messagehub.db") as db:
        assert db.execute("SELECT COUNT(*) FROM contact").fetchone()[0] == imported
    again = run(home, "import", str(source))
    bad = ROWS // 500
    assert again.stdout == (f"imported {ROWS - bad - imported}, updated {imported}, "
                            f"rejected {bad} (list big)\n")


def test_a_quota_stops_an_import_as_a_full_disk_does(tmp_path):
    """EDQUOT is a full disk to the import as to the runners (errors.is_disk_full, one rule):
    the stop line says where to free space, not "stopped by an error"."""
    import errno

    from messagehub_tui.importer import ImportResult, _stopped
    source = tmp_path / "people.csv"
    said = _stopped(source, tmp_path, ImportResult(saved_through=41),
                    OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert said.startswith(f"{source}: disk full in {tmp_path} at line 42: lines 2-41 done"), said
    assert f"Free space in {tmp_path}, then run the same import again" in said
