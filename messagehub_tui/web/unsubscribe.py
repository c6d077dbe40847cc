"""`/u/{token}`: RFC 8058 one-click unsubscribe.

GET never unsubscribes (mail scanners follow links): it shows the masked address and a button.
POST with `List-Unsubscribe=One-Click` (what mail clients send, and what the button sends)
suppresses the recipient at once and answers 200, no redirect, no cookie; again, harmlessly. A
bad or tampered token gets 400 and changes nothing.
"""

from __future__ import annotations

from aiohttp import web

from messagehub_tui import feedback, signing
from messagehub_tui.web import pages
from messagehub_tui.web.forms import BadForm, read_form
from messagehub_tui.web.keys import DB, SETTINGS

BAD_LINK = "This unsubscribe link is not valid. Please use the link from the message itself."
GONE = "This link names a message we no longer keep; nothing was changed."
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _html(text: str, status: int = 200) -> web.Response:
    # no-store: a shared cache must never answer one recipient's link with another's page
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _delivery_id(request: web.Request) -> int | None:
    key = signing.secret_key(request.app[SETTINGS].home)
    return signing.read_unsubscribe_token(key, request.match_info["token"])


async def show(request: web.Request) -> web.Response:
    delivery_id = _delivery_id(request)
    if delivery_id is None:
        return _html(pages.refused("Invalid link", BAD_LINK), 400)
    found = await request.app[DB](feedback.target, delivery_id)
    if found is None:
        return _html(pages.refused("Unknown link", GONE), 410)
    return _html(pages.confirm(found.address))


async def unsubscribe(request: web.Request) -> web.Response:
    delivery_id = _delivery_id(request)
    if delivery_id is None:
        return _html(pages.refused("Invalid link", BAD_LINK), 400)
    try:
        form = await read_form(request)
    except BadForm:
        form = None
    if form is None or form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        return _html(pages.refused("Nothing changed",
                                   "Expected the form field List-Unsubscribe=One-Click."), 400)
    found = await request.app[DB](feedback.unsubscribe, request.app[SETTINGS], delivery_id,
                                  "one-click unsubscribe")
    if found is None:
        return _html(pages.refused("Unknown link", GONE), 410)
    return _html(pages.done(found.address))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/u/{token}", show)
    app.router.add_post("/u/{token}", unsubscribe)
