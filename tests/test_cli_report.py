"""`deliveries` and `export` end to end: who failed and why, and a CSV that imports back."""

from __future__ import annotations

import csv
import json
import sqlite3
import stat

from tests.clitools import (
    ok,
    run,
    smtp_config,
)

PEOPLE = ("email,phone,first_name,last_name,city,score\n"
          "good1@example.com,+14155550101,Ann,Lee,Paris,1\n"
          "bad1@example.com,+14155550102,Bob,Stone,Rome,-3\n"
          "bad2@example.com,,Cy,Young,Oslo,\n"
          "bad3@example.com,,=HYPERLINK(\"http://x\"),Ray,@SUM(1),-2+3\n")


def _contacts(home) -> dict[str, tuple]:
    with sqlite3.connect(home / "messagehub.db") as connection:
        rows = connection.execute("SELECT id, email, phone, first_name, last_name, attributes "
                                  "FROM contact ORDER BY id").fetchall()
    return {row[1]: (*row[:5], json.loads(row[5])) for row in rows}


def _sent_with_failures(home, port) -> str:
    smtp_config(home, port)
    (home / "people.csv").write_text(PEOPLE)
    (home / "body.txt").write_text("hi {{ first_name }}")
    ok(home, "import", str(home / "people.csv"))
    campaign_id = ok(home, "create", "--name", "n", "--channel", "email", "--list", "people",
                     "--subject", "s", "--body", str(home / "body.txt")).strip()
    assert run(home, "send", campaign_id).returncode == 3
    return campaign_id


def test_deliveries_lists_who_failed_and_why_and_export_imports_back(tmp_path, rejecting_smtp):
    campaign_id = _sent_with_failures(tmp_path, rejecting_smtp)

    table = ok(tmp_path, "deliveries", campaign_id).splitlines()
    assert table[0].split() == ["ADDRESS", "STATUS", "ATTEMPTS", "UPDATED", "FEEDBACK", "REASON"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == {"good1@example.com", "bad1@example.com", "bad2@example.com",
                         "bad3@example.com"}
    assert rows["good1@example.com"].split()[1:3] == ["sent", "1"]
    assert rows["bad1@example.com"].split()[1:3] == ["failed", "1"]
    assert "no such user" in rows["bad1@example.com"]
    failed = json.loads(ok(tmp_path, "deliveries", campaign_id, "--status", "failed", "--json"))
    assert sorted(row["address"] for row in failed) == [
        "bad1@example.com", "bad2@example.com", "bad3@example.com"]
    assert all(row["status"] == "failed" and "no such user" in row["reason"]
               and row["updated_at"].endswith("Z") and row["provider_id"] is None
               for row in failed)
    # what the server answered to the message: what one looks up in its mail log
    sent = json.loads(ok(tmp_path, "deliveries", campaign_id, "--status", "sent", "--json"))
    assert [row["provider_id"] for row in sent] == ["2.0.0 Ok: queued"]

    before = _contacts(tmp_path)
    target = tmp_path / "failed.csv"
    exported = ok(tmp_path, "export", campaign_id, "--status", "failed", str(target))
    assert exported == f"exported 3 failed deliveries of campaign {campaign_id} to {target}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with target.open(newline="") as handle:
        exported_rows = {row["email"]: row for row in csv.DictReader(handle)}
    assert list(exported_rows) == ["bad1@example.com", "bad2@example.com", "bad3@example.com"]
    bob, formulas = exported_rows["bad1@example.com"], exported_rows["bad3@example.com"]
    assert (bob["phone"], bob["first_name"], bob["city"], bob["score"]) == (
        "+14155550102", "Bob", "Rome", "-3")  # plain numbers stay as they are
    assert formulas["first_name"] == "'=HYPERLINK(\"http://x\")"
    assert (formulas["city"], formulas["score"]) == ("'@SUM(1)", "'-2+3")
    assert all(row["delivery_status"] == "failed" and "no such user" in row["delivery_reason"]
               for row in exported_rows.values())

    again = run(tmp_path, "export", campaign_id, str(target))
    assert again.returncode == 1 and "already exists" in again.stderr
    # a folder (or an empty name, which is the current folder) is not "a file that exists"
    folder = run(tmp_path, "export", campaign_id, str(tmp_path))
    assert folder.returncode == 1 and folder.stderr.count("\n") == 1, folder.stderr
    assert f"{tmp_path} is a folder: name a new file in it" in folder.stderr
    assert len(target.read_text().splitlines()) == 4

    # Round trip: the file imports back to the same contacts; the apostrophe that made a cell
    # text comes off again, as a spreadsheet reads it (it used to stay in names and fields).
    imported = ok(tmp_path, "import", str(target), "--list", "retry")
    assert imported.startswith("imported 0, updated 3, rejected 0")
    assert _contacts(tmp_path) == before
    assert "retry\t3" in ok(tmp_path, "lists")


def test_deliveries_and_export_refuse_what_they_cannot_do(tmp_path):
    assert run(tmp_path, "init").returncode == 0
    missing = run(tmp_path, "deliveries", "9")
    assert missing.returncode == 1 \
        and missing.stderr == "messagehub-tui: campaign 9 does not exist\n"
    assert run(tmp_path, "deliveries", "1", "--status", "lost").returncode == 2
    unwritable = run(tmp_path, "export", "9", str(tmp_path / "no" / "such" / "dir.csv"))
    assert unwritable.returncode == 1 and "Traceback" not in unwritable.stderr


def test_the_deliveries_table_keeps_its_columns_with_several_kinds_heard_back(home, cli):
    # A text heard back as "delivered,replied,unsubscribed" pushed its REASON 18 columns to the
    # right of the others' (FEEDBACK was 12 wide whatever it held).
    from messagehub_tui import control, feedback
    from messagehub_tui.models import db
    from tests.engine import make_home

    settings, cid = make_home(home, count=3, channel="sms")
    control.launch(settings, cid, start=False)
    db.execute_sql("UPDATE delivery SET status = 'sent', attempts = 1, error = 'why'")
    for kind in ("delivered", "replied", "unsubscribed"):
        feedback.record(1, None, feedback.FeedbackKind(kind), "seen", f"k{kind}")
    code, out, err = cli("deliveries", str(cid))
    assert code == 0, err
    lines = out.splitlines()
    column = lines[0].index("REASON")
    assert "delivered,replied,unsubscribed" in out
    assert all(line[column:] == "why" for line in lines[1:]), lines
