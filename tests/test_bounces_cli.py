"""`bounces check` without a usable mailbox: one clear line and exit 1, never a traceback or the
password."""

from __future__ import annotations

import os

from tests.clitools import ok, run
from tests.peers import free_port


def _env(password: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MESSAGEHUB_IMAP_PASSWORD"}
    if password:
        env["MESSAGEHUB_IMAP_PASSWORD"] = password
    return env


def _fails(home, env, expected: str) -> str:
    done = run(home, "bounces", "check", env=env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert expected in lines[-1] and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_bounces_check_says_what_is_missing(tmp_path):
    ok(tmp_path, "init")
    _fails(tmp_path, _env(None), "[bounces] imap_host is not set")
    (tmp_path / "messagehub.toml").write_text(
        f'[bounces]\nimap_host = "127.0.0.1"\nimap_port = {free_port()}\nimap_user = "u"\n'
        'security = "none"\n')
    _fails(tmp_path, _env(None), "$MESSAGEHUB_IMAP_PASSWORD is not set")
    errors = _fails(tmp_path, _env("pw-never-shown"),
                    "cannot reach the bounce mailbox at 127.0.0.1:")
    assert "pw-never-shown" not in errors


def test_a_bad_bounces_section_is_named(tmp_path):
    ok(tmp_path, "init")
    (tmp_path / "messagehub.toml").write_text('[bounces]\nreturn_path = "bounces@example.com"\n')
    done = run(tmp_path, "bounces", "check")
    assert done.returncode == 1 and "[bounces] return_path must be an address with {token}" \
        in done.stderr, done.stderr
