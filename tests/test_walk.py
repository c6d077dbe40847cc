"""Defects found by walking the app as a newcomer; the real CLI in a subprocess."""

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


def test_export_then_import_gives_back_formula_looking_cells_unchanged(tmp_path):
    # export neutralises formula-looking cells with a leading ' for spreadsheets; importing that
    # file back used to keep the ' as part of the name and the fields.
    import json
    import sqlite3

    campaign = _campaign(tmp_path, 'email,first_name,last_name,notes,score\n'
                                   'f@example.com,"=HYPERLINK(""http://x"")",+SUM(1),@evil,-3\n'
                                   "q@example.com,'quoted,-dash,'=kept,+1\n")
    assert run(tmp_path, "send", campaign).returncode == 0
    exported = run(tmp_path, "export", campaign, "--status", "sent", str(tmp_path / "sent.csv"))
    assert exported.returncode == 0, exported.stderr
    assert "'=HYPERLINK" in (tmp_path / "sent.csv").read_text()  # still safe to open
    with sqlite3.connect(tmp_path / "messagehub.db") as con:
        before = con.execute("select email, first_name, last_name, attributes from contact "
                             "order by email").fetchall()
    again = run(tmp_path, "import", str(tmp_path / "sent.csv"), "--list", "again")
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(tmp_path / "messagehub.db") as con:
        after = con.execute("select email, first_name, last_name, attributes from contact "
                            "order by email").fetchall()
    assert after == before
    assert json.loads(after[0][3])["notes"] == "@evil" and after[0][1] == '=HYPERLINK("http://x")'
    # a ' before a formula character is a spreadsheet's text marker wherever the file comes from
    assert after[1][1] == "'quoted" and json.loads(after[1][3])["notes"] == "=kept"


def test_export_to_dash_writes_the_csv_to_stdout(tmp_path):
    # `export ID -` used to create a file named "-" in the current folder.
    campaign = _campaign(tmp_path, "email,first_name\na@example.com,A\nb@example.com,=B\n")
    assert run(tmp_path, "send", campaign).returncode == 0
    exported = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(tmp_path),
                               "export", campaign, "--status", "sent", "-"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert not (tmp_path / "-").exists()
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("email,phone,first_name") and len(lines) == 3
    assert "b@example.com,,'=B," in exported.stdout  # as safe as the file
    assert exported.stderr == f"exported 2 sent deliveries of campaign {campaign} to stdout\n"


def test_the_launch_event_counts_as_the_launch_question_and_the_cli_do(tmp_path):
    # With 1 of 3 suppressed the question said "to 2 recipients (1 suppressed)", the CLI
    # "launched: 2 to send", and the monitor's event "launched: 3 recipients, 1 suppressed".
    campaign = _campaign(tmp_path, "email,first_name\na@example.com,A\nb@example.com,B\n"
                                   "c@example.com,C\n")
    assert run(tmp_path, "suppress", "c@example.com", "--channel", "email").returncode == 0
    launched = run(tmp_path, "send", campaign)
    assert launched.returncode == 0, launched.stderr
    assert launched.stdout.startswith(f"campaign {campaign} launched: 2 to send\n")
    log = (tmp_path / "logs" / f"campaign-{campaign}.log").read_text()
    assert "launched: 2 to send, 1 suppressed\n" in log, log


def test_json_outputs_print_non_ascii_text_as_itself(tmp_path):
    # `status` (meant for people too) printed the campaign "Grüße" as "Gr\u00fc\u00dfe".
    import json

    (tmp_path / "people.csv").write_text("email,first_name\nzoë@example.com,Zoë\n",
                                         encoding="utf-8")
    (tmp_path / "body.txt").write_text("Hallo {{ first_name }}\n")
    assert run(tmp_path, "import", str(tmp_path / "people.csv")).returncode == 0
    created = run(tmp_path, "create", "--name", "Grüße 東京", "--channel", "email", "--list",
                  "people", "--subject", "s", "--body", str(tmp_path / "body.txt"))
    campaign = created.stdout.strip()
    assert run(tmp_path, "send", campaign).returncode == 3  # the address cannot be sent yet
    for command in (["status", campaign], ["status", campaign, "--json"],
                    ["campaigns", "--json"], ["deliveries", campaign, "--json"]):
        done = run(tmp_path, *command)
        assert done.returncode == 0, done.stderr
        assert "\\u" not in done.stdout, (command, done.stdout)
        json.loads(done.stdout)
    assert '"name": "Grüße 東京"' in run(tmp_path, "status", campaign).stdout
    assert '"address": "zoë@example.com"' in run(tmp_path, "deliveries", campaign,
                                                   "--json").stdout


def test_ctrl_c_during_an_export_leaves_no_half_written_file(tmp_path):
    # Only a write error removed the file: after Ctrl-C half a CSV stayed, and the same export
    # again said "already exists; export never overwrites a file".
    import os
    import signal
    import sqlite3
    import time

    campaign = _campaign(tmp_path, "email,first_name\na@example.com,A\n")
    with sqlite3.connect(tmp_path / "messagehub.db") as connection:
        connection.executemany(
            "INSERT INTO delivery (campaign_id, address, status, attempts, next_attempt_at, "
            "error, updated_at) VALUES (?, ?, 'failed', 1, 0, ?, '2026-01-01')",
            [(int(campaign), f"p{i}@example.com", "550 5.1.1 no such user " + "x" * 200)
             for i in range(200_000)])
    target = tmp_path / "failed.csv"
    export = subprocess.Popen([sys.executable, "-m", "messagehub_tui", "--home", str(tmp_path),
                               "export", campaign, str(target)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (target.exists() and target.stat().st_size > 0):  # writing has begun
        assert export.poll() is None and time.monotonic() < deadline, export.communicate()
        time.sleep(0.002)
    export.send_signal(signal.SIGINT)
    out, err = export.communicate(timeout=60)
    assert export.returncode == 130, (out, err)
    assert not os.path.exists(target), target.stat().st_size
