"""The installed command: exit codes 0, 1 and 2, one line on stderr, never a traceback."""

import subprocess
import sys


def run(home, *args):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60)


def test_exit_codes(tmp_path):
    # Read-only commands no longer make a home of whatever folder they are given: start one first.
    assert run(tmp_path, "init").returncode == 0
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


def test_send_prints_plain_progress_and_ctrl_c_pauses(tmp_path):
    import signal

    (tmp_path / "people.csv").write_text(
        "email\n" + "".join(f"p{i}@example.com\n" for i in range(20)))
    (tmp_path / "body.txt").write_text("hi")
    assert run(tmp_path, "import", str(tmp_path / "people.csv")).returncode == 0
    created = run(tmp_path, "create", "--name", "n", "--channel", "email", "--list", "people",
                  "--subject", "s", "--body", str(tmp_path / "body.txt"), "--rate", "2")
    campaign_id = created.stdout.strip()
    sender = subprocess.Popen(
        [sys.executable, "-m", "messagehub_tui", "--home", str(tmp_path), "send", campaign_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = sender.stdout.readline()
    assert first.startswith(f"campaign {campaign_id} launched: 20 to send")
    progress = sender.stdout.readline()
    assert "% sent " in progress and "/20 failed 0" in progress and "\r" not in progress
    sender.send_signal(signal.SIGINT)
    out, err = sender.communicate(timeout=30)
    assert sender.returncode == 130, err  # interrupted (the campaign is paused, not finished)
    assert "interrupted: pausing" in err
    assert f"campaign {campaign_id} paused" in out
    status = run(tmp_path, "status", campaign_id, "--json")
    assert '"status": "paused"' in status.stdout
    resumed = run(tmp_path, "send", campaign_id)
    assert resumed.returncode == 0 \
        and f"campaign {campaign_id} completed: sent 20" in resumed.stdout
    dry = run(tmp_path, "send", campaign_id, "--dry-run")
    assert "dry run: 20 messages rendered, 0 problems, nothing sent" in dry.stdout


def test_send_draws_a_progress_bar_on_a_terminal(tmp_path):
    import os
    import pty

    (tmp_path / "people.csv").write_text(
        "email\n" + "".join(f"t{i}@example.com\n" for i in range(6)))
    (tmp_path / "body.txt").write_text("hi")
    run(tmp_path, "import", str(tmp_path / "people.csv"))
    campaign_id = run(tmp_path, "create", "--name", "n", "--channel", "email", "--list", "people",
                      "--subject", "s", "--body", str(tmp_path / "body.txt"),
                      "--rate", "4").stdout.strip()
    main, follower = pty.openpty()
    sender = subprocess.Popen([sys.executable, "-m", "messagehub_tui", "--home", str(tmp_path),
                               "send", campaign_id], stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert sender.wait(timeout=60) == 0
    text = output.decode()
    assert "\r" in text and "#" * 30 in text and "100% sent 6/6" in text
    assert f"campaign {campaign_id} completed: sent 6" in text
