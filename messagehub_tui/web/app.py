"""The web application: every route module registers its routes here.

A route module is a module with `add_routes(app: web.Application) -> None`; to add one (Twilio's
status and inbound callbacks, say), append it to ROUTE_MODULES. Handlers reach the settings and
the database through the app keys of keys.py: database work runs on the one thread that owns this
endpoint's connection, never on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from messagehub_tui.config import Settings
from messagehub_tui.web import HEALTH_TEXT, bounce_hook, twilio_hooks, unsubscribe
from messagehub_tui.web.keys import DB, SETTINGS

log = logging.getLogger("messagehub.web")
FAILED = "the endpoint failed on this request; its log says why\n"


async def healthz(request: web.Request) -> web.Response:
    """What doctor and a proxy check: the endpoint answers (no database, no details)."""
    return web.Response(text=HEALTH_TEXT)


@web.middleware
async def one_line_failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A failure no handler expected: one line in the messagehub.web log (the daemon's log),
    naming the route, never the path (it carries an unsubscribe token), and a plain 500.
    Without it aiohttp printed a traceback to the process's stderr, outside the log."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        route = request.match_info.route.resource
        where = route.canonical if route is not None else "?"
        log.error("%s %s failed: %s: %s", request.method, where, type(exc).__name__, exc)
        return web.Response(status=500, text=FAILED)


def _add_health(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)


ROUTE_MODULES: list[ModuleType] = [unsubscribe, bounce_hook, twilio_hooks]


def make_app(settings: Settings, run_db: Callable[..., Awaitable[Any]]) -> web.Application:
    """The application with every route module's routes."""
    # forms and webhook JSON are small
    app = web.Application(client_max_size=64 * 1024, middlewares=[one_line_failures])
    app[SETTINGS] = settings
    app[DB] = run_db
    _add_health(app)
    for module in ROUTE_MODULES:
        module.add_routes(app)
    return app
