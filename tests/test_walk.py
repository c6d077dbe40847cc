"""Defects found by walking the app as a newcomer (see the walk report); the real CLI in a subprocess."""

import subprocess
import sys


def run(home, *args):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120)


def _campaign(home, rows: str) -> str:
    (home / "people.csv").write_text(rows, encoding="utf-8")
    (home / "body.txt").write_text("Hello {{ first_name }}\n")
    imported = run(home, "import", str(home / "people.csv"), "--list", "people")
    assert imported.returncode == 0, imported.stderr
    created = run(home, "create", "--name", "n", "--channel", "email", "--list", "people",
                  "--subject", "s", "--body", str(home / "body.txt"))
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_a_non_ascii_address_fails_alone_instead_of_pausing_the_campaign(tmp_path):
    # The import accepts an internationalised address (it is valid); sending it used to crash
    # the runner in formataddr and pause the whole campaign, again on every resume.
    campaign = _campaign(tmp_path, "email,first_name\nünï@exämple.com,U\nplain@example.com,P\n")
    sent = run(tmp_path, "send", campaign)
    assert sent.returncode == 3, sent.stdout + sent.stderr  # finished, with a failure
    assert f"campaign {campaign} completed: sent 1, failed 1" in sent.stdout
    failed = run(tmp_path, "deliveries", campaign, "--status", "failed")
    assert "ünï@exämple.com" in failed.stdout and "non-ASCII" in failed.stdout
    assert "Traceback" not in (tmp_path / "logs" / f"campaign-{campaign}.log").read_text()
