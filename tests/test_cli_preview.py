"""`preview` shows readable text (`--raw` the wire form); an SMS refuses a subject."""

from __future__ import annotations

from tests.clitools import ok, run


def _unicode_campaign(home) -> str:
    (home / "people.csv").write_text("email,phone,first_name\nzoe@example.com,+14155550101,Zoë\n",
                                     encoding="utf-8")
    (home / "body.txt").write_text("Grüße, {{ first_name }}!\n", encoding="utf-8")
    (home / "body.html").write_text("<p>Grüße {{ first_name }}</p>\n", encoding="utf-8")
    ok(home, "import", str(home / "people.csv"))
    return ok(home, "create", "--name", "n", "--channel", "email", "--list", "people",
              "--subject", "Ünïcödé für {{ first_name }}", "--body", str(home / "body.txt"),
              "--html", str(home / "body.html")).strip()


def test_preview_prints_decoded_text_and_raw_the_wire_form(tmp_path):
    campaign_id = _unicode_campaign(tmp_path)
    readable = run(tmp_path, "preview", campaign_id)
    assert readable.returncode == 0, readable.stderr
    lines = readable.stdout.splitlines()
    assert "Subject: Ünïcödé für Zoë" in lines
    assert "To: Zoë <zoe@example.com>" in lines
    assert lines[lines.index("--- text/plain ---") + 1] == "Grüße, Zoë!"
    assert lines[lines.index("--- text/html ---") + 1] == "<p>Grüße Zoë</p>"
    assert "=C3" not in readable.stdout and "Content-Transfer-Encoding" not in readable.stdout

    raw = ok(tmp_path, "preview", campaign_id, "--raw")
    assert "Content-Transfer-Encoding: quoted-printable" in raw
    assert "Gr=C3=BC=C3=9Fe" in raw and "Subject: =?utf-8?" in raw


def test_sms_campaign_refuses_a_subject(tmp_path):
    (tmp_path / "people.csv").write_text("phone\n+14155550101\n")
    (tmp_path / "body.txt").write_text("hi")
    ok(tmp_path, "import", str(tmp_path / "people.csv"))
    refused = run(tmp_path, "create", "--name", "n", "--channel", "sms", "--list", "people",
                  "--subject", "Hello", "--body", str(tmp_path / "body.txt"))
    assert refused.returncode == 1
    assert refused.stderr == ("messagehub-tui: --subject is for email; an SMS has no subject "
                              "(put it in the body)\n")
    assert ok(tmp_path, "campaigns", "--json").strip() == "[]"
    sms_id = ok(tmp_path, "create", "--name", "n", "--channel", "sms", "--list", "people",
                "--body", str(tmp_path / "body.txt")).strip()
    assert ok(tmp_path, "preview", sms_id).endswith("\n\nhi\n")


def test_preview_and_send_test_say_the_list_was_deleted(tmp_path):
    campaign_id = _unicode_campaign(tmp_path)
    ok(tmp_path, "cancel", campaign_id)
    ok(tmp_path, "lists", "--delete", "people")
    gone = (f"messagehub-tui: campaign {campaign_id}'s list was deleted (lists --delete): it has "
            "no contacts to take a message's data from any more\n")
    for command in (["preview", campaign_id], ["send-test", campaign_id, "--to", "me@example.com"]):
        done = run(tmp_path, *command)
        assert (done.returncode, done.stderr) == (1, gone)
