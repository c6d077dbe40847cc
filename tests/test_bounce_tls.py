"""The bounce mailbox over TLS: a private Dovecot with a certificate the test made, speaking
STARTTLS and implicit TLS; the poller trusts it through [bounces] ca_file and nothing else
(verification is never turned off)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from messagehub_tui.config_load import load_settings
from messagehub_tui.errors import ConfigError
from tests.clitools import campaign_with, ok, run
from tests.mailloop import DOMAIN, MailLoop
from tests.peers import require


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA) and its key."""
    require(shutil.which("openssl") is not None, "openssl")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imap-tls")
    folder.chmod(0o755)  # Dovecot reads its key as root, then serves as the mail uid
    return _certificate(folder, "mailbox"), _certificate(folder, "stranger")


@pytest.fixture(scope="module")
def tls_loop(certificates):
    started = MailLoop(tls=certificates[0])
    yield started
    print(started.log())
    started.stop()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_the_poller_verifies_the_mailbox_against_the_ca_file(tmp_path, tls_loop, certificates,
                                                              security):
    (ca, _), (stranger, _) = certificates
    port = tls_loop.imaps_port if security == "tls" else tls_loop.imap_port
    env = tls_loop.configure(tmp_path, f'ca_file = "{ca}"\n', security=security, imap_port=port)
    campaign_id = campaign_with(tmp_path, [f"ghost-{security}@{DOMAIN}"])
    before = tls_loop.maildir_count("bounces")
    assert run(tmp_path, "send", campaign_id, env=env).returncode == 0
    tls_loop.wait_for("bounces", before + 1)
    done = run(tmp_path, "bounces", "check", "--all", env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"bounce hard: ghost-{security}@{DOMAIN} (campaign {campaign_id})" in done.stdout

    # the system's CAs do not know this certificate, nor does another CA file
    for extra, trusted in (("", "the system's CAs"),
                           (f'ca_file = "{stranger}"\n', f"the CAs of [bounces] ca_file "
                                                          f"{stranger}")):
        tls_loop.configure(tmp_path, extra, security=security, imap_port=port)
        refused = run(tmp_path, "bounces", "check", env=env)
        assert refused.returncode == 1, refused.stdout
        assert refused.stderr.strip().splitlines()[-1] == (
            f"messagehub-tui: the TLS certificate of the bounce mailbox at 127.0.0.1:{port} is "
            f"not trusted by {trusted} (self-signed certificate); set [bounces] ca_file to the "
            "CA that signed it"), refused.stderr


def test_a_ca_file_that_is_not_one_is_named(tmp_path, tls_loop):
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    env = tls_loop.configure(tmp_path, f'ca_file = "{not_pem}"\n', security="tls",
                             imap_port=tls_loop.imaps_port)
    ok(tmp_path, "init")
    done = run(tmp_path, "bounces", "check", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"messagehub-tui: [bounces] ca_file {not_pem} cannot be used: it holds no PEM "
        "certificate"), done.stderr


@pytest.mark.parametrize("value, problem", [
    ("relative/ca.pem", "must be an absolute path to a PEM file"),
    ("/nonexistent/ca.pem", "names no file: /nonexistent/ca.pem does not exist"),
    (1, "must be a string"),
])
def test_a_bad_ca_file_setting_is_named(home, value, problem):
    toml_value = f'"{value}"' if isinstance(value, str) else value
    (home / "messagehub.toml").write_text(f"[bounces]\nca_file = {toml_value}\n")
    with pytest.raises(ConfigError, match=r"\[bounces\] ca_file " + problem):
        load_settings(home)
