"""Output piped into `head`: the command stops quietly, as Unix tools do."""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from tests.clitools import COMMAND, ok


@pytest.fixture(scope="module")
def big_home(tmp_path_factory):
    """A home whose listings run far past a pipe's buffer: 3,000 campaigns, a long body, and
    3,000 deliveries."""
    home = tmp_path_factory.mktemp("big")
    (home / "people.csv").write_text("email\n" + "".join(f"p{i}@example.com\n"
                                                         for i in range(3000)))
    (home / "body.txt").write_text("".join(f"line {i} of a long letter\n" for i in range(20000)))
    ok(home, "import", str(home / "people.csv"))
    ok(home, "create", "--name", "long", "--channel", "email", "--list", "people", "--subject",
       "s", "--body", str(home / "body.txt"))
    with sqlite3.connect(home / "messagehub.db") as connection:
        connection.executemany(
            "INSERT INTO campaign (name, channel, status, contact_list_id, subject, body, "
            "created_at, updated_at, control, auto_resume) "
            "VALUES (?, 'email', 'cancelled', 1, 's', 'b', '2026-01-01', '2026-01-01', '', 0)",
            [(f"old {i}",) for i in range(3000)])
        connection.executemany(
            "INSERT INTO delivery (campaign_id, address, status, attempts, next_attempt_at, "
            "updated_at) VALUES (2, ?, 'cancelled', 0, 0, '2026-01-01')",
            [(f"p{i}@example.com",) for i in range(3000)])
    return home


@pytest.mark.parametrize("command", [["campaigns"], ["campaigns", "--json"], ["preview", "1"],
                                     ["preview", "1", "--raw"], ["deliveries", "2"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(big_home, command):
    # Buffered stdout, as without PYTHONUNBUFFERED: unbuffered, one big write to a pipe whose
    # reader left is cut short without an error, and the command ends quietly with 0 instead.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    writer = subprocess.Popen([*COMMAND, "--home", str(big_home), *command],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    head = subprocess.Popen(["head", "-1"], stdin=writer.stdout, stdout=subprocess.PIPE)
    writer.stdout.close()  # head alone holds the pipe's reading end
    first, _ = head.communicate(timeout=120)
    errors = writer.stderr.read().decode()
    writer.stderr.close()
    assert writer.wait(timeout=120) == 141, errors
    assert errors == ""
    assert first.strip()


@pytest.mark.parametrize("command", [["campaigns"], ["status", "1"], ["export", "2", "--status",
                                                                     "cancelled", "-"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(big_home, command):
    # `> file` on a full disk (here /dev/full), or a terminal gone: every command printed
    # "OSError: [Errno 28] No space left on device" under a traceback.
    with open("/dev/full", "w") as full:
        done = subprocess.run([*COMMAND, "--home", str(big_home), *command], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1:] == [
        "messagehub-tui: cannot write: No space left on device"], done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
