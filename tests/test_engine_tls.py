"""SMTP over STARTTLS and implicit TLS against aiosmtpd with a certificate made for the test."""

import shutil
import signal
import ssl
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller

from messagehub_tui import control, delivery
from messagehub_tui.channels.base import Outcome
from messagehub_tui.doctor import run_checks
from messagehub_tui.models import Delivery, Event
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.peers import RecordingHandler, free_port, require
from tests.scripted_smtp import ScriptedSmtp


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    require(shutil.which("openssl") is not None, "openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(params=["starttls", "tls"])
def tls_server(request, certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    handler = RecordingHandler()
    options = ({"tls_context": context, "require_starttls": True}
               if request.param == "starttls" else {"ssl_context": context})
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    yield request.param, controller.port, handler
    controller.stop()


def tls_toml(security: str, port: int, verify: bool) -> str:
    return (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "{security}"\nfrom = "a@example.com"\ntimeout = "5s"\n'
            f"verify = {'true' if verify else 'false'}\n")


def test_verified_tls_sends(home, tls_server, certificate, monkeypatch):
    security, port, handler = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    settings, cid = make_home(home, tls_toml(security, port, verify=True), count=4)
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 4
    assert len(handler.recipients()) == 4


def test_untrusted_certificate_pauses_with_the_reason(home, tls_server):
    security, port, handler = tls_server
    settings, cid = make_home(home, tls_toml(security, port, verify=True), count=4)
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert "TLS certificate of 127.0.0.1 is not trusted" in campaign.last_error
    assert handler.recipients() == {}


def test_verify_false_accepts_a_self_signed_certificate(home, tls_server):
    security, port, handler = tls_server
    settings, cid = make_home(home, tls_toml(security, port, verify=False), count=4)
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert len(handler.recipients()) == 4


@pytest.fixture
def silent_server():
    server = ScriptedSmtp(silent=True)
    yield server
    server.stop()


@pytest.mark.parametrize("security, stage", [("none", "the greeting"),
                                             ("tls", "connect and TLS handshake")])
def test_send_test_and_doctor_wait_one_timeout_for_a_server_that_never_answers(
        home, silent_server, security, stage):
    toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {silent_server.port}\n'
            f'security = "{security}"\nfrom = "a@example.com"\ntimeout = "2s"\n')
    settings, cid = make_home(home, toml, count=1)
    started = time.monotonic()
    result = delivery.send_test(settings, cid, "qa@example.com").result
    assert time.monotonic() - started >= 2  # it did wait the timeout (a lower bound only)
    assert result.outcome == Outcome.STOP
    assert f"no answer during {stage} within 2 s" in result.reason
    # One timeout, not one per attempt: one connection, given up on without a QUIT (which
    # would wait for the silent server a second time).
    assert (silent_server.connections, said_quit(silent_server)) == (1, False)
    check = {c.name: c for c in run_checks(settings)}["smtp"]
    assert not check.ok and f"no answer during {stage} within 2 s" in check.detail
    assert (silent_server.connections, said_quit(silent_server)) == (2, False)


def said_quit(server: ScriptedSmtp) -> bool:
    with server.lock:
        return b"QUIT" in b"".join(server.reads)


def test_a_campaign_pauses_after_one_timeout(home, silent_server):
    toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {silent_server.port}\n'
            'security = "starttls"\nfrom = "a@example.com"\ntimeout = "2s"\nconnections = 2\n'
            '[delivery]\nprocesses = 1\n')
    settings, cid = make_home(home, toml, count=4)
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused")
    assert "no answer during the greeting within 2 s" in campaign.last_error
    events = list(Event.select().where(Event.campaign == cid).order_by(Event.id))
    started = next(e.at for e in events if "started" in e.message)
    paused = next(e.at for e in events if e.message.startswith("paused"))
    assert (paused - started).total_seconds() >= 2, events  # it waited the timeout
    # the first lane's connection alone: its timeout paused the campaign before another opened
    assert (silent_server.connections, said_quit(silent_server)) == (1, False)
    assert counts_add_up(cid)["pending"] == 4


def test_a_server_without_starttls_says_which_setting_to_change(home):
    server = ScriptedSmtp(starttls=False)
    try:
        toml = tls_toml("starttls", server.port, verify=True)
        settings, cid = make_home(home, toml, count=2)
        control.launch(settings, cid)
        campaign = wait_status(cid, "paused")
        assert campaign.last_error.startswith(
            "the server does not offer STARTTLS; set [email] security = \"tls\"")
        assert "authentication" not in campaign.last_error
        check = {c.name: c for c in run_checks(settings)}["smtp"]
        assert "does not offer STARTTLS" in check.detail and "502" not in check.detail
        assert not any(c.startswith("STARTTLS") for c in server.commands)
    finally:
        server.stop()


def test_doctor_explains_an_untrusted_certificate(home, tls_server):
    security, port, _ = tls_server
    settings, _ = make_home(home, tls_toml(security, port, verify=True), count=1)
    check = {c.name: c for c in run_checks(settings)}["smtp"]
    assert not check.ok
    assert "TLS certificate of 127.0.0.1 is not trusted" in check.detail
    assert "verify = false" in check.detail
    assert "firewall" not in check.detail


def test_a_pause_before_the_server_greets_takes_effect_at_once(home, silent_server):
    # The walk: Ctrl-C in `send` while the server had not greeted yet waited out the whole
    # [email] timeout, then paused with "cannot connect" instead of the user's pause. With a
    # timeout far longer than the wait below, only the pause can end the greeting's wait: the
    # campaign is paused by the user (no error), not by the server's silence.
    toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {silent_server.port}\n'
            'security = "none"\nfrom = "a@example.com"\ntimeout = "3600s"\n')
    settings, cid = make_home(home, toml, count=4)
    control.launch(settings, cid)
    poll(lambda: Event.select().where((Event.campaign == cid)
                                      & Event.message.contains("started")).exists(),
         30, what="runner started")
    control.pause(settings, cid)
    campaign = wait_status(cid, "paused", timeout=120)
    assert campaign.last_error is None, campaign.last_error
    assert counts_add_up(cid)["pending"] == 4


@pytest.mark.parametrize("stop", ["pause", "SIGTERM"])
def test_a_stop_while_a_later_lane_waits_for_its_greeting_takes_effect_at_once(home, stop):
    # Lane 0 connects when the runner starts; lane 1 on its first message, here to a server
    # that never greets it (Postfix postscreen holds its greeting ~6 s, an overloaded server
    # may say nothing). The stop waited out the whole [email] timeout (300 s here, so the
    # 60 s poll of wait_status fails) for a connection that had sent nothing.
    server = ScriptedSmtp(silent=True, greeted=1)
    try:
        toml = (f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {server.port}\n'
                'security = "none"\nfrom = "a@example.com"\ntimeout = "300s"\nconnections = 2\n'
                '[delivery]\nprocesses = 1\n')
        settings, cid = make_home(home, toml, count=6)
        runners = control.launch(settings, cid).runners
        # everything claimed, and lane 1 connected to the server that does not greet it
        poll(lambda: counts_add_up(cid)["pending"] == 0 and server.connections == 2,
             what="lane 1 waiting for its greeting")
        if stop == "pause":
            control.pause(settings, cid)
        else:
            runners[0].send_signal(signal.SIGTERM)
        campaign = wait_status(cid, "paused")
        assert campaign.last_error is None, campaign.last_error
        counts = counts_add_up(cid)
        assert counts["sending"] == counts["unknown"] == counts["failed"] == 0, counts
        assert counts["sent"] == len(server.messages) and counts["pending"] > 0, counts
        # what lane 1 held was never tried: its attempt is given back
        held = Delivery.select().where((Delivery.campaign == cid) & (Delivery.status == "pending"))
        assert [d.attempts for d in held] == [0] * counts["pending"]
        assert runners[0].wait(timeout=10) == 0
    finally:
        server.stop()
