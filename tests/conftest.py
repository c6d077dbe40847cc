"""Shared fixtures: a fresh home with an open database, and the CLI run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehub_tui.cli import main
from messagehub_tui.config import load_settings
from messagehub_tui.models import close_db, open_db
from tests.clitools import refusing_smtp, rejecting_smtp  # noqa: F401 (fixtures for every module)
from tests.pgcluster import pg_cluster, pg_database  # noqa: F401 (fixtures for every module)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("MESSAGEHUB_HOME", raising=False)
    monkeypatch.delenv("MESSAGEHUB_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("MESSAGEHUB_HOST_ID", raising=False)
    yield tmp_path
    close_db()


@pytest.fixture
def settings(home: Path):
    found = load_settings(home)
    open_db(found.db_path)
    return found


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def cli(home: Path, capsys):
    """Run the CLI in this process against the test home; returns (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--home", str(home), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.fixture
def smtp_server():
    """aiosmtpd on loopback recording every message; yields (port, handler)."""
    from aiosmtpd.controller import Controller

    from tests.peers import RecordingHandler, free_port
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler
    controller.stop()


@pytest.fixture
def people_csv(home: Path) -> Path:
    return write(home / "people.csv",
                 "email,first_name,last_name,phone,city\n"
                 "ann@example.com,Ann,Lee,+14155550101,Paris\n"
                 "bob@example.com,Bob,Stone,+14155550102,Rome\n"
                 "cy@example.com,Cy,Young,,Oslo\n")
