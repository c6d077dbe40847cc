"""The random part that makes this home's Message-IDs unique among every home's."""

from __future__ import annotations

import secrets

from messagehub_tui.models import db

_KEY = "message_id_token"
# Until this home's first launch stores its token, previews and test sends use one of their own:
# they must not write (read-only commands never take the write lock), and nothing they send
# needs to be matched later.
_UNSTORED = secrets.token_hex(8)


def home_token() -> str:
    """This home's token, as stored at its first launch: two homes both sending campaign 1 to
    delivery 1 no longer produce the same `<1.1.1@example.com>`."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (_KEY,)).fetchone()
    return row[0] if row else _UNSTORED


def store_home_token() -> None:
    """Make this home's token once; called inside the launch's write transaction."""
    db.execute_sql("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                   (_KEY, secrets.token_hex(8)))
