"""SMTP over STARTTLS and implicit TLS against aiosmtpd with a certificate made for the test."""

import shutil
import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller

from messagehub_tui import control
from tests.engine import counts_add_up, make_home, wait_status
from tests.peers import RecordingHandler, free_port, require


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
