"""The web application: every route module registers its routes here.

A route module is a module with `add_routes(app: web.Application) -> None`; to add one (Twilio's
status and inbound callbacks, say), append it to ROUTE_MODULES. Handlers reach the settings and
the database through the app keys of keys.py: database work runs on the one thread that owns this
endpoint's connection, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from aiohttp import web

from messagehub_tui.config import Settings
from messagehub_tui.web import HEALTH_TEXT, bounce_hook, twilio_hooks, unsubscribe
from messagehub_tui.web.keys import DB, SETTINGS


async def healthz(request: web.Request) -> web.Response:
    """What doctor and a proxy check: the endpoint answers (no database, no details)."""
    return web.Response(text=HEALTH_TEXT)


def _add_health(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)


ROUTE_MODULES: list[ModuleType] = [unsubscribe, bounce_hook, twilio_hooks]


def make_app(settings: Settings, run_db: Callable[..., Awaitable[Any]]) -> web.Application:
    """The application with every route module's routes."""
    app = web.Application(client_max_size=64 * 1024)  # forms and webhook JSON are small
    app[SETTINGS] = settings
    app[DB] = run_db
    _add_health(app)
    for module in ROUTE_MODULES:
        module.add_routes(app)
    return app
