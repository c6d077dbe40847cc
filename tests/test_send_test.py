"""`send-test` through the real command: the first contact's data for realism, but unsubscribe links
that can only ever name the tester, and a subject marked "[test] " unless told otherwise."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path

from tests.conftest import write

UNSUBSCRIBE = ("mailto:unsubscribe@example.com?subject={{ email }}, "
               "https://example.com/u?e={{ email|urlencode }}&t={{ token }}")


def run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def make_campaign(home: Path, channel: str = "email") -> str:
    write(home.parent / "people.csv",
          "email,phone,first_name,token\n"
          "ann@example.com,+14155550101,Ann,ann-secret-token\n"
          "bob@example.com,+14155550102,Bob,bob-secret-token\n")
    assert run(home, "import", str(home.parent / "people.csv"), "--list", "people").returncode == 0
    created = run(home, "create", "--name", "n", "--channel", channel, "--list", "people",
                  *(["--subject", "Hello {{ first_name }}"] if channel == "email" else []),
                  "--body", "-", stdin="Dear {{ first_name }}, see {{ unsubscribe_url }}"
                  if channel == "email" else "Dear {{ first_name }}")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_a_test_email_cannot_unsubscribe_the_contact_it_borrows(tmp_path, smtp_server):
    port, handler = smtp_server
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    write(home / "messagehub.toml", f"""
[email]
transport = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
from = "News <news@example.com>"
unsubscribe = "{UNSUBSCRIBE}"
""")
    home.joinpath("messagehub.toml").chmod(0o600)
    campaign_id = make_campaign(home)
    sent = run(home, "send-test", campaign_id, "--to", "me@tester.example")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("test message sent to me@tester.example")
    message = email.message_from_bytes(handler.messages[0][1], policy=policy.default)
    assert handler.messages[0][0] == ["me@tester.example"]
    assert message["Subject"] == "[test] Hello Ann"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe == ("<mailto:unsubscribe@example.com?subject=me@tester.example>, "
                           "<https://example.com/u?e=me%40tester.example&t=test>")
    body = message.get_content()
    assert "Dear Ann" in body and "https://example.com/u?e=me%40tester.example&t=test" in body
    raw = handler.messages[0][1].decode()
    assert "ann@example.com" not in raw and "ann-secret-token" not in raw

    plain = run(home, "send-test", campaign_id, "--to", "me@tester.example", "--no-test-prefix")
    assert plain.returncode == 0, plain.stderr
    message = email.message_from_bytes(handler.messages[1][1], policy=policy.default)
    assert message["Subject"] == "Hello Ann"
    assert "ann-secret-token" not in handler.messages[1][1].decode()
    status = json.loads(run(home, "status", campaign_id).stdout)
    assert status["status"] == "draft" and status["counts"]["sent"] == 0
    assert run(home, "suppressions").stdout == ""


def test_a_test_sms_is_marked_too(tmp_path):
    home = tmp_path / "home"
    campaign_id = make_campaign(home, "sms")
    sent = run(home, "send-test", campaign_id, "--to", "+14155550199")
    assert sent.returncode == 0, sent.stderr
    plain = run(home, "send-test", campaign_id, "--to", "+14155550199", "--no-test-prefix")
    assert plain.returncode == 0, plain.stderr
    bodies = sorted(json.loads(path.read_text())["body"] for path in home.rglob("test-*.json"))
    assert bodies == ["Dear Ann", "[test] Dear Ann"]


def test_a_test_sms_names_the_number_it_went_to(tmp_path):
    # "test message sent to 415 555 0199": the number as typed, not the one texted.
    home = tmp_path / "home"
    campaign_id = make_campaign(home, "sms")
    (home / "messagehub.toml").write_text('[sms]\ndefault_region = "US"\n')
    sent = run(home, "send-test", campaign_id, "--to", "(415) 555-0199")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("test message sent to +14155550199 ("), sent.stdout
    [path] = home.rglob("test-*.json")
    assert json.loads(path.read_text())["to"] == "+14155550199"
