"""`POST /webhooks/bounce`: bounces and complaints posted by an email (or SMS) provider.

Authenticated by `Authorization: Bearer $MESSAGEHUB_WEBHOOK_TOKEN` (compared in constant time);
the body is JSON `{"email" or "phone", "type": "hard"|"soft"|"complaint", "reason",
"message_id"?}`, as listmonk's webhook takes. The bounce policy does the rest, as for a report
found in the bounce mailbox; the same body posted twice is recorded once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aiohttp import web

from messagehub_tui.addresses import InvalidAddress, normalise_phone
from messagehub_tui.bounces import policy
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.config import WEBHOOK_TOKEN_ENV, Settings
from messagehub_tui.signing import same
from messagehub_tui.web.keys import DB, SETTINGS

TYPES = {"hard": Kind.HARD, "soft": Kind.SOFT, "complaint": Kind.COMPLAINT}
SHAPE = ('expected a JSON object {"email" or "phone", "type": "hard"|"soft"|"complaint", '
         '"reason", "message_id"?}')


class BadReport(ValueError):
    """The body is not a report this webhook takes; its text is the one line answered."""


@dataclass(frozen=True)
class Report:
    finding: Finding
    phone: str | None
    key: str


def _text(body: dict, name: str, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadReport(f'"{name}" must be a non-empty string; {SHAPE}')
    # JSON can spell a NUL or a lone surrogate (\u0000, \ud800): no database stores either
    if "\x00" in value or _unencodable(value):
        raise BadReport(f'"{name}" holds a NUL or a lone surrogate, which is not text; {SHAPE}')
    return value.strip()


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse(raw: bytes, settings: Settings) -> Report:
    """The report in a request body, or BadReport naming what is wrong."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadReport(f"not JSON ({exc}); {SHAPE}") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser goes
        raise BadReport(f"JSON nested too deeply; {SHAPE}") from None
    if not isinstance(body, dict):
        raise BadReport(SHAPE)
    unknown = sorted(set(body) - {"email", "phone", "type", "reason", "message_id"})
    if unknown:
        raise BadReport(f"unknown field {unknown[0]!r}; {SHAPE}")
    if ("email" in body) == ("phone" in body):
        raise BadReport(f'give exactly one of "email" and "phone"; {SHAPE}')
    kind = TYPES.get(body.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise BadReport(f'"type" must be "hard", "soft" or "complaint"; {SHAPE}')
    reason = _text(body, "reason", required=False) or ""
    message_id = _text(body, "message_id", required=False)
    key = "webhook:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    if "phone" in body:
        phone = _text(body, "phone", required=True) or ""
        try:
            normal = normalise_phone(phone, settings.sms.default_region)
        except InvalidAddress as exc:
            raise BadReport(f'"phone": {exc}') from None
        return Report(Finding(kind, recipient=normal, diagnostic=reason), normal, key)
    email = _text(body, "email", required=True)
    return Report(Finding(kind, recipient=email, diagnostic=reason,
                          original_message_id=message_id.strip("<>") if message_id else None),
                  None, key)


def _apply(settings: Settings, report: Report) -> policy.Applied | None:
    if report.phone is not None:
        return policy.apply_sms(settings, report.finding, report.phone, report.key)
    return policy.apply(settings, report.finding, report.key)


def _authorised(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same(given.strip(), token)


async def receive(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = settings.web.webhook_token
    if token is None:
        return web.Response(status=503, text=f"the bounce webhook is off: set ${WEBHOOK_TOKEN_ENV} "
                                             "where the endpoint runs\n")
    if not _authorised(request, token):
        return web.Response(status=401, text="missing or wrong bearer token\n",
                            headers={"WWW-Authenticate": 'Bearer realm="messagehub"'})
    try:
        report = parse(await request.read(), settings)
    except BadReport as exc:
        return web.Response(status=400, text=f"{exc}\n")
    applied = await request.app[DB](_apply, settings, report)
    return web.json_response({
        "recorded": applied is not None and not applied.repeated,
        "delivery_id": applied.delivery_id if applied else None,
        "suppressed": bool(applied and applied.suppressed),
    })


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/bounce", receive)
