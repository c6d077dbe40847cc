"""What a recognised report does: suppress the address, note the delivery's error, tell the
campaign.

A hard bounce, a complaint or an unsubscribe request (reason `unsubscribed`) suppresses at once;
soft bounces suppress after `soft_limit` within `soft_window`. A report that names no delivery of
this home is not acted on (and the mailbox leaves it where it is): it may be about the mailbox
owner's own mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from messagehub_tui import feedback
from messagehub_tui.bounces import store
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.config import Settings
from messagehub_tui.models import Channel, Delivery, db

MAX_REASON = 300
_KINDS = {Kind.HARD: feedback.FeedbackKind.BOUNCED, Kind.SOFT: feedback.FeedbackKind.SOFT_BOUNCED,
          Kind.COMPLAINT: feedback.FeedbackKind.COMPLAINED}


@dataclass(frozen=True)
class Applied:
    """What one report did: the delivery it named and whether it suppressed the address."""

    finding: Finding
    delivery_id: int
    campaign_id: int
    address: str
    suppressed: bool
    # recorded before: by an earlier poll whose move did not happen, or (an unsubscribe) for the
    # same delivery by another request or the web link
    repeated: bool = False


def _at_once(finding: Finding) -> str | None:
    """The suppression reason of a report that suppresses at once (a hard bounce, a complaint),
    on either channel; None for a soft bounce."""
    if finding.kind == Kind.COMPLAINT:
        return "complained"
    if finding.kind == Kind.HARD:
        return f"bounced: {finding.diagnostic}"[:MAX_REASON]
    return None


def _suppression_reason(settings: Settings, finding: Finding, address: str) -> str | None:
    if finding.kind != Kind.SOFT:
        return _at_once(finding)
    bounces = settings.bounces
    count = store.soft_count(address, bounces.soft_window) + 1  # this one is recorded next
    if count >= bounces.soft_limit:
        return (f"bounced: {count} soft bounces within {bounces.soft_window / 86400:g} days; "
                f"last: {finding.diagnostic}")[:MAX_REASON]
    return None


def apply(settings: Settings, finding: Finding, message_key: str) -> Applied | None:
    """Act on one recognised report (the bounce mailbox, the bounce webhook); None when it names
    no email delivery of this home."""
    delivery = store.find_delivery(finding, settings.bounces.return_path, settings.home)
    if delivery is None or delivery.campaign.channel != Channel.EMAIL:
        return None
    found = feedback.Target(delivery.id, delivery.campaign_id, Channel.EMAIL.value,
                            delivery.address)
    if finding.kind == Kind.UNSUBSCRIBE:
        # once per delivery, like the one-click link: a second request (or the link) is a repeat
        repeated = feedback.recorded(feedback.unsubscribe_key(found.delivery_id))
        feedback.unsubscribe(settings, found.delivery_id, finding.diagnostic)
        return Applied(finding, found.delivery_id, found.campaign_id, found.address,
                       not repeated, repeated)
    reason = _suppression_reason(settings, finding, delivery.address)
    with db.atomic():
        first = feedback.report(settings, found, _KINDS[finding.kind], finding.diagnostic,
                                f"bounce:{message_key}", reason)
        if first:
            Delivery.update(error=finding.diagnostic[:MAX_REASON]).where(
                Delivery.id == delivery.id).execute()
    return Applied(finding, found.delivery_id, found.campaign_id, found.address,
                   first and reason is not None, repeated=not first)


def apply_sms(settings: Settings, finding: Finding, phone: str, message_key: str) -> Applied | None:
    """A provider's report about a phone number (the bounce webhook): the number's most recent
    SMS delivery gets it; a hard bounce or a complaint suppresses the number. None when no SMS
    delivery of this home went to it."""
    found = feedback.latest_delivery(Channel.SMS.value, phone)
    if found is None:
        return None
    reason = _at_once(finding)  # soft bounces of a number are recorded, never counted to a limit
    first = feedback.report(settings, found, _KINDS[finding.kind], finding.diagnostic,
                            f"bounce:{message_key}", reason)
    return Applied(finding, found.delivery_id, found.campaign_id, found.address,
                   first and reason is not None, repeated=not first)
