"""The home on disk, through the real command: made only by commands that add data, private to its
user whatever the umask, and a warning when an existing one is open to others."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

READ_ONLY = [["campaigns"], ["status", "1"], ["lists"], ["preview", "1"], ["suppressions"],
             ["doctor"]]
NEEDS_A_HOME = [["launch", "1"], ["send", "1"], ["schedule", "1", "--clear"], ["delete", "1"],
                ["create", "--name", "n", "--channel", "email", "--list", "people", "--subject",
                 "s", "--body", "-"], ["daemon"]]


def run(home: Path, *args: str, umask: int | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def wait_for(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("args", READ_ONLY + NEEDS_A_HOME, ids=lambda a: a[0])
def test_a_missing_home_is_named_and_never_created(tmp_path, args):
    missing = tmp_path / "nonexistent" / "dir"
    result = run(missing, *args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"messagehub-tui: {missing} does not exist; ")
    assert "--home" in result.stderr and "init" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("args", READ_ONLY + NEEDS_A_HOME, ids=lambda a: a[0])
def test_a_folder_without_a_database_is_not_a_home(tmp_path, args):
    folder = tmp_path / "somewhere"
    folder.mkdir()
    result = run(folder, *args)
    assert result.returncode == 1, result.stderr
    assert f"{folder} has no messagehub.db, so it is not a home" in result.stderr
    assert result.stderr.count("\n") == 1
    assert list(folder.iterdir()) == []


def test_a_missing_home_names_where_its_path_came_from(tmp_path):
    missing, here = tmp_path / "missing", tmp_path / "here"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MESSAGEHUB_HOME"}
    command = [sys.executable, "-m", "messagehub_tui", "lists"]
    from_env = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              env={**env, "MESSAGEHUB_HOME": str(missing)})
    assert from_env.returncode == 1
    assert from_env.stderr == (
        f"messagehub-tui: $MESSAGEHUB_HOME names {missing}, which does not exist; set "
        f"MESSAGEHUB_HOME (or pass --home) to your home, or start one with `messagehub-tui "
        f"--home {missing} init` or by importing contacts\n")
    from_cwd = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env,
                              cwd=here)
    assert from_cwd.returncode == 1
    assert from_cwd.stderr.startswith(
        f"messagehub-tui: the current folder {here} has no messagehub.db, so it is not a home; "
        "pass --home (or set MESSAGEHUB_HOME) to your home")


def test_the_current_folder_is_left_alone_by_read_only_commands(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MESSAGEHUB_HOME"}
    result = subprocess.run([sys.executable, "-m", "messagehub_tui", "campaigns"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1 and "not a home" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_commands_that_add_data_create_the_home_and_say_so(tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("email\nann@example.com\n")
    for args in (["import", str(csv)], ["suppress", "x@example.com", "--channel", "email"],
                 ["init"]):
        home = tmp_path / f"new-{args[0]}" / "home"
        result = run(home, *args)
        assert result.returncode == 0, result.stderr
        assert f"messagehub-tui: created home {home}\n" in result.stderr
        assert (home / "messagehub.db").is_file() and mode(home) == 0o700
        again = run(home, "lists")
        assert again.returncode == 0 and "created home" not in again.stderr


def test_an_empty_folder_made_by_mkdir_becomes_a_private_home(tmp_path):
    folder = tmp_path / "made"
    folder.mkdir()
    folder.chmod(0o755)
    result = run(folder, "init")
    assert result.returncode == 0
    assert result.stderr == f"messagehub-tui: created home {folder}\n"
    assert mode(folder) == 0o700


def test_a_shared_folder_made_a_home_is_warned_about(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("the team's")
    folder.chmod(0o755)
    result = run(folder, "init")
    assert mode(folder) == 0o755  # a folder holding other things keeps its mode
    assert result.returncode == 0
    assert result.stderr == (f"messagehub-tui: created home {folder}\n"
                             f"messagehub-tui: warning: the home {folder} is accessible by others "
                             f"(mode 755); make it private with: chmod -R go-rwx {folder}\n")


def test_init_on_an_existing_home_creates_nothing(tmp_path):
    assert run(tmp_path / "h", "init").returncode == 0
    second = run(tmp_path / "h", "init")
    assert second.returncode == 0 and second.stderr == ""
    assert second.stdout == f"{tmp_path / 'h'} is a home\n"


def test_everything_in_the_home_is_private_under_umask_022(tmp_path):
    home = tmp_path / "home"
    csv = tmp_path / "people.csv"
    csv.write_text("email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(5))
                   + "not-an-address,Bad\n")
    body = tmp_path / "body.txt"
    body.write_text("Hello {{ first_name }}")
    imported = run(home, "import", str(csv), "--list", "people", umask=0o022)
    assert imported.returncode == 0, imported.stderr
    assert (home / "people.rejects.csv").exists()
    created = run(home, "create", "--name", "n", "--channel", "email", "--list", "people",
                  "--subject", "s", "--body", str(body), umask=0o022)
    assert created.returncode == 0, created.stderr
    sent = run(home, "send", created.stdout.strip(), umask=0o022)
    assert sent.returncode == 0, sent.stderr
    assert "sent 5" in sent.stdout
    launched_id = run(home, "create", "--name", "m", "--channel", "email", "--list", "people",
                      "--subject", "s", "--body", str(body), umask=0o022).stdout.strip()
    assert run(home, "launch", launched_id, umask=0o022).returncode == 0
    wait_for(lambda: '"status": "completed"' in run(home, "status", launched_id).stdout)
    daemon = subprocess.Popen([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                               "daemon"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: os.umask(0o022))
    try:
        wait_for(lambda: (home / "logs" / "daemon.log").exists()
                 and (home / "daemon.lock").exists())
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    paths = [home, *home.rglob("*")]
    assert len(list(home.rglob("*.eml"))) == 10
    exposed = {str(path.relative_to(tmp_path)): oct(mode(path)) for path in paths
               if mode(path) & 0o077}
    assert exposed == {}
    assert {path.name for path in paths} >= {"messagehub.db", "outbox", "logs"}


def test_an_exposed_home_and_config_are_warned_about(tmp_path):
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    quiet = run(home, "lists")
    assert quiet.returncode == 0 and quiet.stderr == ""
    home.chmod(0o755)
    warned = run(home, "lists")
    assert warned.returncode == 0
    assert warned.stderr == (f"messagehub-tui: warning: the home {home} is accessible by others "
                             f"(mode 755); make it private with: chmod -R go-rwx {home}\n")
    config = home / "messagehub.toml"
    config.write_text("[email]\nrate = 2\n")
    config.chmod(0o644)
    warned = run(home, "campaigns")
    assert warned.returncode == 0
    assert f"warning: {config} is readable by others (mode 644)" in warned.stderr
    assert warned.stderr.count("\n") == 2
    home.chmod(0o700)  # a private home keeps its files out of others' reach whatever their mode
    assert run(home, "campaigns").stderr == ""
