"""A Twilio delivery status, from a callback or a poll, recorded against the delivery that holds
its MessageSid (Delivery.provider_id).

A message's final status is recorded once, under one key per MessageSid: callbacks arrive out of
order and are retried, so a "sent" after a "delivered" changes nothing, nor does a second final
status. Non-final statuses (queued, sent, …) record nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from messagehub_tui import feedback
from messagehub_tui.channels.twilio_feedback import (
    STOP_REASON,
    UNSUBSCRIBED_CODE,
    FinalStatus,
    StatusReport,
)
from messagehub_tui.config import Settings
from messagehub_tui.events import record_event
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Campaign, Channel, Delivery, db

MAX_ERROR = 300
# Twilio's "failed" (never sent) and "undelivered" (the carrier refused) both mean the text did not
# arrive: one feedback kind; the detail keeps Twilio's word and error code.
_KINDS = {FinalStatus.DELIVERED: FeedbackKind.DELIVERED,
          FinalStatus.UNDELIVERED: FeedbackKind.UNDELIVERED,
          FinalStatus.FAILED: FeedbackKind.UNDELIVERED}


@dataclass(frozen=True)
class Applied:
    """What one report did to the delivery it names."""

    delivery_id: int
    campaign_id: int
    final: FinalStatus | None
    recorded: bool  # False: not final, or a final status was recorded before


def final_key(sid: str) -> str:
    """The idempotency key of a message's final status: one per MessageSid, whichever comes
    first."""
    return f"twilio-final:{sid}"


def find_delivery(sid: str) -> Delivery | None:
    """The SMS delivery that Twilio's MessageSid names."""
    return (Delivery.select().join(Campaign)
            .where((Delivery.provider_id == sid) & (Campaign.channel == Channel.SMS.value))
            .first())


def apply(settings: Settings, report: StatusReport) -> Applied | None:
    """Record a status report; None when no delivery of this home has its MessageSid."""
    delivery = find_delivery(report.sid)
    if delivery is None:
        return None
    final = report.final
    if final is None:
        return Applied(delivery.id, delivery.campaign_id, None, False)
    detail = report.detail()
    with db.atomic():
        recorded = feedback.record(delivery.id, delivery.campaign_id, _KINDS[final], detail,
                                   final_key(report.sid))
        if recorded and final != FinalStatus.DELIVERED:
            Delivery.update(error=detail[:MAX_ERROR]).where(Delivery.id == delivery.id).execute()
        stopped = recorded and report.code == UNSUBSCRIBED_CODE and feedback.suppress(
            Channel.SMS.value, delivery.address, STOP_REASON, delivery.campaign_id)
    if recorded and final != FinalStatus.DELIVERED:
        suppressed = "; number suppressed" if stopped else ""
        record_event(settings.logs_dir, delivery.campaign_id,
                     f"text to {delivery.address} {detail}{suppressed}", "warning")
    return Applied(delivery.id, delivery.campaign_id, final, recorded)
