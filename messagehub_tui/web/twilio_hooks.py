"""`POST /twilio/status` (delivery status callbacks) and `POST /twilio/inbound` (texts to the
sending number): verified with Twilio's RequestValidator against the PUBLIC URL (`[web]
public_url` + path, what Twilio signed; never the Host the proxy forwarded). A bad signature gets
403 and records nothing; the sms services record the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from messagehub_tui.channels.twilio_feedback import (
    EMPTY_TWIML,
    INBOUND_PATH,
    STATUS_PATH,
    callback_report,
    endpoint_url,
    signature_valid,
)
from messagehub_tui.sms import inbound, status
from messagehub_tui.web.forms import BadForm, read_form
from messagehub_tui.web.keys import DB, SETTINGS

log = logging.getLogger("messagehub.web")
BAD_SIGNATURE = "X-Twilio-Signature does not match this request\n"
NO_PUBLIC_URL = "set [web] public_url: Twilio's signatures are checked against it\n"
# A runner records a batch's MessageSids about a second after sending it, and a failure (or a
# quick delivery report) can come back sooner: a final status for an unknown sid is looked up
# again for this long (Twilio waits 15 s for an answer) before it is taken as not ours.
UNKNOWN_WAIT = 10.0
UNKNOWN_EVERY = 0.25


async def _verified_form(request: web.Request, path: str) -> Any:
    """The posted form when Twilio signed it; raises 403 (and logs one line) when not."""
    settings = request.app[SETTINGS]
    try:
        form = await read_form(request)
    except BadForm as exc:
        raise web.HTTPBadRequest(text=f"{exc}\n") from None
    if not settings.web.public_url:
        log.warning("%s refused: no [web] public_url to check Twilio's signature against", path)
        raise web.HTTPForbidden(text=NO_PUBLIC_URL)
    url = endpoint_url(settings.web.public_url, path, request.query_string)
    if not signature_valid(url, form, request.headers, settings.sms.auth_token,
                           settings.sms.webhook_key):
        log.warning("%s refused: bad or missing Twilio signature (from %s)", path,
                    request.remote)
        raise web.HTTPForbidden(text=BAD_SIGNATURE)
    return form


async def status_callback(request: web.Request) -> web.Response:
    form = await _verified_form(request, STATUS_PATH)
    report = callback_report(form)
    if report is None:
        raise web.HTTPBadRequest(text="expected the form fields MessageSid and MessageStatus\n")
    applied = await request.app[DB](status.apply, request.app[SETTINGS], report)
    deadline = time.monotonic() + UNKNOWN_WAIT
    while applied is None and report.final is not None and time.monotonic() < deadline:
        await asyncio.sleep(UNKNOWN_EVERY)
        applied = await request.app[DB](status.apply, request.app[SETTINGS], report)
    if applied is None:  # not ours (another app on the account): nothing to record, no retry
        log.info("%s: %s is no delivery of this home", STATUS_PATH, report.sid)
    return web.Response(text="")


async def inbound_message(request: web.Request) -> web.Response:
    form = await _verified_form(request, INBOUND_PATH)
    message = inbound.parse(form)
    if message is not None:
        await request.app[DB](inbound.apply, request.app[SETTINGS], message)
    # empty TwiML: we send no reply (Twilio answers STOP, START and HELP itself)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def add_routes(app: web.Application) -> None:
    app.router.add_post(STATUS_PATH, status_callback)
    app.router.add_post(INBOUND_PATH, inbound_message)
