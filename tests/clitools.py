"""Helpers for end-to-end CLI tests: the real command in a subprocess against a test home."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from tests.peers import free_port

COMMAND = [sys.executable, "-m", "messagehub_tui"]


def run(home: Path, *args: str, timeout: float = 120, **options) -> subprocess.CompletedProcess:
    """One CLI command to completion; text stdout and stderr captured."""
    return subprocess.run([*COMMAND, "--home", str(home), *args], capture_output=True, text=True,
                          timeout=timeout, **options)


def ok(home: Path, *args: str) -> str:
    """Run a command that must succeed; its stdout."""
    done = run(home, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def campaign_with(home: Path, addresses: list[str], rate: float | None = None,
                  channel: str = "email", body: str = "hi {{ first_name }}") -> str:
    """Import the addresses into list `people` and create a campaign to it; returns its id."""
    column = "email" if channel == "email" else "phone"
    (home / "people.csv").write_text(
        f"{column},first_name\n" + "".join(f"{a},N{i}\n" for i, a in enumerate(addresses)))
    (home / "body.txt").write_text(body)
    ok(home, "import", str(home / "people.csv"))
    options = ["--subject", "s"] if channel == "email" else []
    if rate is not None:
        options += ["--rate", str(rate)]
    return ok(home, "create", "--name", "n", "--channel", channel, "--list", "people",
              "--body", str(home / "body.txt"), *options).strip()


def smtp_config(home: Path, port: int) -> None:
    """Send email of this home to a plain SMTP server on loopback."""
    (home / "messagehub.toml").write_text(
        f'[email]\ntransport = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from = "news@example.com"\nconnections = 2\n\n[delivery]\nmax_attempts = 1\n')


def db_value(home: Path, sql: str, *params):
    """One value read straight from the home's database (full precision, no CLI rounding)."""
    with sqlite3.connect(home / "messagehub.db") as connection:
        return connection.execute(sql, params).fetchone()[0]


def stored_time(home: Path, sql: str, *params) -> datetime:
    """A stored naive-UTC time read from the database."""
    return datetime.fromisoformat(db_value(home, sql, *params))


class RejectingHandler:
    """aiosmtpd handler that refuses every recipient whose address starts with `bad`."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("bad"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def rejecting_smtp():
    from aiosmtpd.controller import Controller

    controller = Controller(RejectingHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


class RefusingSmtp:
    """A server on loopback that greets every client with 554 and hangs up: a server that
    refuses this client, so a runner pauses its campaign with the reason."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"554 5.7.1 no service for this client\r\n")

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def refusing_smtp():
    server = RefusingSmtp()
    yield server.port
    server.stop()
