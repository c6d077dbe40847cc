"""The random part that makes this home's Message-IDs unique among every home's."""

from __future__ import annotations

import secrets

from peewee import OperationalError

from messagehub_tui.models import db

_KEY = "message_id_token"


def home_token() -> str:
    """This home's token, made once and kept in the meta table: two homes both sending
    campaign 1 to delivery 1 no longer produce the same `<1.1.1@example.com>`."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()
    if row:
        return row[0]
    token = secrets.token_hex(8)
    try:
        with db.atomic():
            db.execute_sql("INSERT INTO meta (key, value) VALUES (?, ?) "
                           "ON CONFLICT (key) DO NOTHING", (_KEY, token))
    except OperationalError:
        # a database that cannot be written (a preview on a full disk): nothing is sent with
        # this id, so one for this process will do
        return token
    return db.execute_sql("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()[0]
