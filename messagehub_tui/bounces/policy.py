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
from messagehub_tui.events import record_event
from messagehub_tui.models import Channel, Delivery, db

MAX_REASON = 300
_KINDS = {Kind.HARD: feedback.FeedbackKind.BOUNCED, Kind.SOFT: feedback.FeedbackKind.SOFT_BOUNCED,
          Kind.COMPLAINT: feedback.FeedbackKind.COMPLAINED,
          Kind.UNSUBSCRIBE: feedback.FeedbackKind.UNSUBSCRIBED}


def _feedback_key(finding: Finding, delivery_id: int, message_key: str) -> str:
    """A report counts once per report; an unsubscribe once per delivery, however it came (the
    web link records the same key)."""
    if finding.kind == Kind.UNSUBSCRIBE:
        return f"unsubscribe:{delivery_id}"
    return f"bounce:{message_key}"


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


def _suppression_reason(settings: Settings, finding: Finding, address: str) -> str | None:
    if finding.kind == Kind.COMPLAINT:
        return "complained"
    if finding.kind == Kind.UNSUBSCRIBE:
        return "unsubscribed"
    if finding.kind == Kind.HARD:
        return f"bounced: {finding.diagnostic}"[:MAX_REASON]
    bounces = settings.bounces
    count = store.soft_count(address, bounces.soft_window)
    if count >= bounces.soft_limit:
        return (f"bounced: {count} soft bounces within {bounces.soft_window / 86400:g} days; "
                f"last: {finding.diagnostic}")[:MAX_REASON]
    return None


def apply(settings: Settings, finding: Finding, message_key: str) -> Applied | None:
    """Act on one recognised report; None when it names no email delivery of this home."""
    delivery = store.find_delivery(finding, settings.bounces.return_path, settings.home)
    if delivery is None or delivery.campaign.channel != Channel.EMAIL:
        return None
    campaign_id = delivery.campaign_id
    with db.atomic():
        if not feedback.record(delivery.id, campaign_id, _KINDS[finding.kind], finding.diagnostic,
                               _feedback_key(finding, delivery.id, message_key)):
            return Applied(finding, delivery.id, campaign_id, delivery.address, False,
                           repeated=True)
        if finding.kind != Kind.UNSUBSCRIBE:  # a request to leave is no delivery error
            Delivery.update(error=finding.diagnostic[:MAX_REASON]).where(
                Delivery.id == delivery.id).execute()
        reason = _suppression_reason(settings, finding, delivery.address)
        added = bool(reason) and feedback.suppress(Channel.EMAIL.value, delivery.address,
                                                   reason, campaign_id)
    what = {Kind.COMPLAINT: "complaint", Kind.UNSUBSCRIBE: "unsubscribe"}.get(
        finding.kind, f"{finding.kind.value} bounce")
    suppressed = "; address suppressed" if added else ""
    record_event(settings.logs_dir, campaign_id,
                 f"{what} for {delivery.address}: {finding.diagnostic}{suppressed}", "warning")
    return Applied(finding, delivery.id, campaign_id, delivery.address, added)


def apply_sms(settings: Settings, finding: Finding, phone: str, message_key: str) -> Applied | None:
    """A provider's report about a phone number (the bounce webhook): the number's most recent
    SMS delivery gets it; a hard bounce or a complaint suppresses the number. None when no SMS
    delivery of this home went to it."""
    found = feedback.latest_delivery(Channel.SMS.value, phone)
    if found is None:
        return None
    reason = {Kind.HARD: f"bounced: {finding.diagnostic}"[:MAX_REASON],
              Kind.COMPLAINT: "complained"}.get(finding.kind)
    first = feedback.report(settings, found, _KINDS[finding.kind], finding.diagnostic,
                            f"bounce:{message_key}", reason)
    return Applied(finding, found.delivery_id, found.campaign_id, found.address,
                   first and reason is not None, repeated=not first)
