"""What a process pays before its first message: a SQLite process imports no database driver."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from tests.peers import require

ROOT = Path(__file__).resolve().parent.parent


def _python(script: str, cwd: Path) -> str:
    """A fresh interpreter's stdout running `script` with this tree's package (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_sqlite_process_imports_no_database_driver(tmp_path):
    # peewee imports psycopg whenever it is installed (about 0.1 s of CPU per process); the CLI
    # and a runner on a SQLite home must not, and PostgreSQL must still work after them
    require(importlib.util.find_spec("psycopg") is not None, "psycopg (the postgres extra)")
    script = (
        "import sys\n"
        "import messagehub_tui.cli, messagehub_tui.workers.runner\n"
        "from messagehub_tui.config_load import load_settings\n"
        "from messagehub_tui.database import close_db, open_db\n"
        f"settings = load_settings({str(tmp_path)!r})\n"
        "open_db(settings.db_location)\n"
        "close_db()\n"
        "print(sorted(m for m in ('psycopg', 'psycopg2', 'pymysql') if m in sys.modules))\n"
        "from messagehub_tui.engines import make_postgres\n"
        "adapter = make_postgres('postgresql://u@127.0.0.1:1/x')._adapter\n"
        "print(adapter.txn_idle == sys.modules['psycopg'].pq.TransactionStatus.IDLE)\n")
    assert _python(script, tmp_path).split("\n")[:2] == ["[]", "True"]


def test_the_cli_starts_without_what_only_some_commands_use():
    # the importer, address checks (email_validator, phonenumbers), doctor and the channels are
    # imported by the commands that use them: `send` and the others start without them
    script = ("import sys, messagehub_tui.cli\n"
              "print(sorted(m for m in ('messagehub_tui.importer', 'email_validator', "
              "'phonenumbers', 'messagehub_tui.doctor', 'messagehub_tui.delivery', "
              "'messagehub_tui.preview', 'psycopg') if m in sys.modules))\n")
    assert _python(script, ROOT).strip() == "[]"
