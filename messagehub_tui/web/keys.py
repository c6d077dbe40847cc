"""What every route handler reaches through its application: the settings and the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from messagehub_tui.config import Settings

SETTINGS = web.AppKey("settings", Settings)
# Run a blocking database function on the endpoint's database thread: `await app[DB](f, *args)`.
RunDb = Callable[..., Awaitable[Any]]
DB: web.AppKey[RunDb] = web.AppKey("db")
