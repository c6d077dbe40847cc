"""AUTH only when offered and encrypted (or explicitly allowed); the credential never echoed."""

import asyncio
import base64
import os
import subprocess
import sys

import pytest

from messagehub_tui import control
from messagehub_tui.channels.base import ChannelStopped
from messagehub_tui.channels.smtp import SmtpChannel
from messagehub_tui.channels.smtp_secrets import REDACTED, credential_forms, scrub
from messagehub_tui.config import EmailSettings
from messagehub_tui.models import Campaign, Delivery, Event
from tests.engine import counts_add_up, make_home, wait_status
from tests.scripted_smtp import ScriptedSmtp
from tests.test_engine_smtp import smtp_toml

USER, PASSWORD = "mailer@example.com", "S3cret-pass/word+42"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# every form of the credential, and the first 12 characters of each encoded form
SECRETS = [PASSWORD, b64(f"\0{USER}\0{PASSWORD}"), b64(USER), b64(PASSWORD)]
SECRETS += [form[:12] for form in SECRETS[1:]]


@pytest.fixture
def scripted():
    started = []

    def start(**options) -> ScriptedSmtp:
        started.append(ScriptedSmtp(**options))
        return started[-1]
    yield start
    for server in started:
        server.stop()


def auth_home(home, monkeypatch, port: int, **extra):
    monkeypatch.setenv("MESSAGEHUB_SMTP_PASSWORD", PASSWORD)
    return make_home(home, smtp_toml(port, username=f'"{USER}"', **extra), count=3)


def test_no_auth_when_the_server_does_not_offer_it(home, scripted, monkeypatch):
    server = scripted(auth=None)
    settings, cid = auth_home(home, monkeypatch, server.port, allow_plaintext_auth="true")
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert campaign.last_error.startswith("the server does not offer AUTH")
    assert not any(c.upper().startswith("AUTH") for c in server.commands)
    assert counts_add_up(cid)["pending"] == 3


def test_no_password_in_clear_text_unless_allowed(home, scripted, monkeypatch):
    server = scripted(auth="PLAIN LOGIN")
    settings, cid = auth_home(home, monkeypatch, server.port)
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert "refusing to send the SMTP password over an unencrypted connection" in \
        campaign.last_error
    assert "allow_plaintext_auth = true" in campaign.last_error
    assert not any(c.upper().startswith("AUTH") for c in server.commands)


@pytest.mark.parametrize("mechanisms, first", [("PLAIN LOGIN", "AUTH PLAIN "),
                                               ("LOGIN", "AUTH LOGIN")])
def test_plaintext_auth_when_allowed_and_offered(home, scripted, monkeypatch, mechanisms, first):
    server = scripted(auth=mechanisms)
    settings, cid = auth_home(home, monkeypatch, server.port, allow_plaintext_auth="true")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 3
    assert any(c.startswith(first) for c in server.commands)


def run_cli(home, *args):
    env = {**os.environ, "MESSAGEHUB_SMTP_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          check=False, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("mechanisms", ["PLAIN", "LOGIN"])
def test_an_echoed_credential_is_stored_and_printed_nowhere(home, scripted, monkeypatch,
                                                            mechanisms):
    server = scripted(auth=mechanisms, echo=True)
    settings, cid = auth_home(home, monkeypatch, server.port, allow_plaintext_auth="true")
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    # the server did quote the credential back
    assert any(form in command for command in server.commands for form in SECRETS[1:4])
    assert "535" in campaign.last_error and REDACTED in campaign.last_error
    send_test = run_cli(home, "send-test", str(cid), "--to", "qa@example.com")
    doctor = run_cli(home, "doctor")
    assert send_test.returncode == 1 and "535" in send_test.stderr
    assert doctor.returncode == 1 and "535" in doctor.stdout
    stored = [Campaign.get_by_id(cid).last_error,
              *(e.message for e in Event.select()),
              *(d.error or "" for d in Delivery.select()),
              *(path.read_text() for path in (home / "logs").iterdir()),
              send_test.stdout, send_test.stderr, doctor.stdout, doctor.stderr]
    for secret in SECRETS:
        assert not any(secret in text for text in stored), secret


@pytest.mark.parametrize("mechanisms", ["PLAIN", "LOGIN"])
def test_a_credential_quoted_in_a_line_that_is_not_smtp_is_scrubbed_too(scripted, mechanisms):
    server = scripted(auth=mechanisms, echo="garbage")
    email = EmailSettings(transport="smtp", host="127.0.0.1", port=server.port, security="none",
                          sender="a@example.com", username=USER, password=PASSWORD,
                          allow_plaintext_auth=True, timeout=5.0)
    channel = SmtpChannel(email, "a@example.com")
    with pytest.raises(ChannelStopped, match="not an SMTP reply") as stopped:
        asyncio.run(channel.open())
    assert any(form in command for command in server.commands for form in SECRETS[1:4])
    assert not any(secret in str(stopped.value) for secret in SECRETS), str(stopped.value)


def test_scrub_removes_a_quoted_credential_even_cut_short():
    forms = credential_forms(USER, PASSWORD)
    token = b64(f"\0{USER}\0{PASSWORD}")
    for echoed in (f"535 bad: AUTH PLAIN {token}", f"535 bad: AUTH PLAIN {token[:20]}",
                   f"500 line too long: {token[5:30]}...", f"535 {b64(PASSWORD)} wrong",
                   f"535 password {PASSWORD} wrong"):
        clean = scrub(echoed, forms)
        assert REDACTED in clean
        assert not any(secret in clean for secret in SECRETS), clean
    assert scrub("250 2.0.0 Ok: queued as 4XyZ1234abcd", forms) == \
        "250 2.0.0 Ok: queued as 4XyZ1234abcd"


def test_allow_plaintext_auth_must_be_a_boolean(home):
    from messagehub_tui.config import ConfigError
    from messagehub_tui.config_load import load_settings
    (home / "messagehub.toml").write_text('[email]\nallow_plaintext_auth = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[email\] allow_plaintext_auth must be true or false"):
        load_settings(home)
    (home / "messagehub.toml").write_text('[email]\nallow_plaintext_auth = true\n')
    assert load_settings(home).email.allow_plaintext_auth is True
    (home / "messagehub.toml").write_text("")
    assert load_settings(home).email.allow_plaintext_auth is False
