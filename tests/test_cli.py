"""The installed command: exit codes 0, 1 and 2, one line on stderr, never a traceback."""

import subprocess
import sys


def run(home, *args):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60)


def test_exit_codes(tmp_path):
    ok = run(tmp_path, "lists")
    assert ok.returncode == 0 and ok.stderr == ""
    missing = run(tmp_path, "status", "42")
    assert missing.returncode == 1
    assert missing.stderr == "messagehub-tui: campaign 42 does not exist\n"
    usage = run(tmp_path, "create", "--name", "x")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    absent = run(tmp_path, "import", str(tmp_path / "none.csv"))
    assert absent.returncode == 1 and "Traceback" not in absent.stderr
    assert "cannot read" in absent.stderr
