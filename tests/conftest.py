"""Shared fixtures: a fresh home with an open database (SQLite, or PostgreSQL in the modules
that run on both engines), and the CLI run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehub_tui.cli import main
from messagehub_tui.config import DATABASE_URL_ENV
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.schema import SCHEMA_VERSION
from tests.clitools import refusing_smtp, rejecting_smtp  # noqa: F401 (fixtures for every module)
from tests.mailloop import loop  # noqa: F401 (a private Postfix and Dovecot)
from tests.pgcluster import PgCluster, pg_cluster, pg_database  # noqa: F401 (fixtures)

ENGINES = ("sqlite", "postgres")


def pytest_generate_tests(metafunc):
    """A module that sets `BOTH_ENGINES = True` runs each test that has a home on both engines."""
    marks = metafunc.definition.iter_markers("parametrize")
    chosen = any("engine" in mark.args[0] for mark in marks)
    if getattr(metafunc.module, "BOTH_ENGINES", False) and "engine" in metafunc.fixturenames \
            and not chosen:  # a test may name its engine itself
        metafunc.parametrize("engine", ENGINES, indirect=True)


def schema_template(cluster: PgCluster) -> str:
    """A database holding the current schema, made once per session: each test gets a copy."""
    name = f"schema_v{SCHEMA_VERSION}"
    if name not in cluster.templates:
        def setup(url: str) -> None:
            open_db(url)
            close_db()
        cluster.templates.add(cluster.make_template(name, setup))
    return name


@pytest.fixture
def engine(request, monkeypatch):
    """"sqlite" (the home's file), or "postgres": a fresh database of the session's private
    cluster, named to every process through MESSAGEHUB_DATABASE_URL."""
    kind = getattr(request, "param", "sqlite")
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    if kind != "postgres":
        yield kind
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database(template=schema_template(cluster))
    monkeypatch.setenv(DATABASE_URL_ENV, cluster.url(name))
    yield kind
    close_db()
    cluster.drop_database(name)


@pytest.fixture
def home(tmp_path: Path, monkeypatch, engine: str) -> Path:
    monkeypatch.delenv("MESSAGEHUB_HOME", raising=False)
    monkeypatch.delenv("MESSAGEHUB_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("MESSAGEHUB_HOST_ID", raising=False)
    yield tmp_path
    close_db()


@pytest.fixture
def settings(home: Path):
    found = load_settings(home)
    open_db(found.db_location)
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
    handler.released.set()  # nothing held stops the server's stop
    controller.stop()


@pytest.fixture
def people_csv(home: Path) -> Path:
    return write(home / "people.csv",
                 "email,first_name,last_name,phone,city\n"
                 "ann@example.com,Ann,Lee,+14155550101,Paris\n"
                 "bob@example.com,Bob,Stone,+14155550102,Rome\n"
                 "cy@example.com,Cy,Young,,Oslo\n")


@pytest.fixture
def fake():
    """The fake Twilio API on loopback."""
    from tests.peers import FakeTwilio
    server = FakeTwilio()
    yield server
    server.stop()


@pytest.fixture
def twilio_token(home, monkeypatch) -> str:
    """TWILIO_AUTH_TOKEN set (it also signs the webhooks), no webhook shared key; a module of
    Twilio tests uses it for every test with `pytestmark = pytest.mark.usefixtures(...)`."""
    from tests.peers import TWILIO_TOKEN
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.delenv("TWILIO_WEBHOOK_SHARED_KEY", raising=False)
    return TWILIO_TOKEN
