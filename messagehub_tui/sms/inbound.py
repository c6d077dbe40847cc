"""An inbound text to the sending number: STOP and its synonyms suppress the number, START lifts
the suppression a STOP made (never one a user or a bounce made), HELP is left to Twilio, and any
other text is a reply, shown in the campaign that last texted that number."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from messagehub_tui import feedback
from messagehub_tui.addresses import InvalidAddress, normalise_phone
from messagehub_tui.channels.twilio_feedback import STOP_REASON, Keyword, keyword
from messagehub_tui.config import Settings
from messagehub_tui.config_checks import E164
from messagehub_tui.events import record_event
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Campaign, Channel, Delivery, DeliveryStatus, db

MAX_SHOWN = 300  # characters of a reply in an event line (the feedback keeps 500)


@dataclass(frozen=True)
class Inbound:
    """One inbound message as Twilio posted it."""

    sid: str
    number: str  # the sender, E.164
    body: str
    opt_out_type: str = ""  # set by Twilio's Advanced Opt-Out when a keyword matched


def parse(params: Mapping[str, Any]) -> Inbound | None:
    """The message in a webhook's form fields; None without a MessageSid or an E.164 sender
    (a short code, a WhatsApp address: not a number this tool texts)."""
    sid, sender = params.get("MessageSid") or params.get("SmsSid"), params.get("From")
    if not isinstance(sid, str) or sid[:2] not in ("SM", "MM") or not isinstance(sender, str):
        return None
    if not E164.match(sender.strip()):  # "whatsapp:+1…", a short code: parses, but is not ours
        return None
    try:
        number = normalise_phone(sender, None)
    except InvalidAddress:
        return None
    # a NUL is no text PostgreSQL stores (the reply became a 500 that Twilio retried)
    body = str(params.get("Body") or "").replace("\x00", "")
    return Inbound(sid, number, body, str(params.get("OptOutType") or ""))


@dataclass(frozen=True)
class Heard:
    """What one inbound message did."""

    keyword: Keyword
    campaign_id: int | None  # the campaign that last texted the number, if any
    changed: bool  # suppressed, lifted or recorded now (False for a retried webhook)


def last_delivery(number: str) -> Delivery | None:
    """The most recent text sent to the number, by any campaign."""
    return (Delivery.select().join(Campaign)
            .where((Delivery.address == number) & (Campaign.channel == Channel.SMS.value)
                   & (Delivery.status == DeliveryStatus.SENT.value))
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).first())


def one_line(text: str, limit: int = MAX_SHOWN) -> str:
    """A reply as one printable line: no control characters (terminal escapes) or line breaks."""
    shown = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def apply(settings: Settings, message: Inbound) -> Heard:
    """Act on an inbound message; a webhook retried by Twilio changes nothing the second time."""
    word = keyword(message.body, message.opt_out_type)
    last = last_delivery(message.number)
    campaign_id = last.campaign_id if last else None
    key = f"twilio-inbound:{message.sid}"
    changed, note = False, ""
    if word == Keyword.OPT_OUT:
        with db.atomic():
            changed = feedback.suppress(Channel.SMS.value, message.number, STOP_REASON,
                                        campaign_id)
            if last is not None:
                changed = feedback.record(last.id, campaign_id, FeedbackKind.UNSUBSCRIBED,
                                          f"replied {one_line(message.body, 40)}", key) or changed
        note = f"{message.number} replied {one_line(message.body, 40)}: number suppressed"
    elif word == Keyword.OPT_IN:
        changed = feedback.unsuppress_many(Channel.SMS.value, [message.number],
                                           only_reason=STOP_REASON) > 0
        note = f"{message.number} replied {one_line(message.body, 40)}: STOP lifted"
    elif word == Keyword.REPLY and last is not None:
        changed = feedback.record(last.id, campaign_id, FeedbackKind.REPLIED,
                                  message.body[:feedback.MAX_DETAIL], key)
        note = f"reply from {message.number}: {one_line(message.body)}"
    if changed and campaign_id is not None:
        record_event(settings.logs_dir, campaign_id, note)
    return Heard(word, campaign_id, changed)
