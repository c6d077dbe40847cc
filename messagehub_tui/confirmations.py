"""The questions the app asks before an irreversible step, built only when a yes can succeed:
each reads the campaign and raises InvalidState, saying why, instead of asking in vain."""

from __future__ import annotations

from messagehub_tui import campaigns
from messagehub_tui.errors import InvalidState
from messagehub_tui.feedback import count_suppressed_since
from messagehub_tui.models import (
    FINISHED,
    PRE_LAUNCH,
    RESUMABLE,
    Campaign,
    CampaignStatus,
    DeliveryStatus,
)


def _label(campaign: Campaign) -> str:
    return f"campaign {campaign.id} “{campaign.name}”"


def launch_question(campaign_id: int) -> str:
    campaign = campaigns.get(campaign_id)
    if campaign.status not in PRE_LAUNCH:
        hint = "; r resumes it" if campaign.status in RESUMABLE else ""
        raise InvalidState(f"campaign {campaign_id} is {campaign.status}; only a draft, "
                           f"scheduled or missed campaign can be launched{hint}")
    counts = campaigns.counts(campaign)
    if not counts.pending:
        raise InvalidState(f"campaign {campaign_id} has nobody to send to: its list is empty "
                           "or every address is suppressed")
    plural = "" if counts.pending == 1 else "s"
    return (f"Launch {_label(campaign)} to {counts.pending} recipient{plural} "
            f"({counts.skipped} suppressed)?")


def cancel_question(campaign_id: int) -> str:
    campaign = campaigns.get(campaign_id)
    if campaign.status in FINISHED:
        raise InvalidState(f"campaign {campaign_id} is already {campaign.status}")
    unsent = campaigns.counts(campaign).unsent
    return f"Cancel {_label(campaign)}? {unsent} unsent deliveries will be cancelled."


def delete_question(campaign_id: int) -> str:
    campaign = campaigns.get(campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        hint = ("; s with an empty time makes it a draft again"
                if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.MISSED) else "")
        raise InvalidState(f"campaign {campaign_id} is {campaign.status}; only a draft can be "
                           f"deleted{hint}")
    return f"Delete draft {campaign_id} “{campaign.name}”?"


def retry_unknown_question(campaign_id: int) -> str:
    """Counts what the retry will send: not the deliveries to an address suppressed since."""
    campaign = campaigns.get(campaign_id)
    unknown = campaigns.counts(campaign).unknown
    if not unknown:
        raise InvalidState(f"campaign {campaign_id} has no unknown deliveries")
    skipped = count_suppressed_since(campaign_id, campaign.channel, [DeliveryStatus.UNKNOWN])
    if skipped == unknown:
        return (f"Mark the {unknown} unknown deliveries of {_label(campaign)} skipped? Their "
                "addresses were suppressed since; nothing will be sent.")
    kept_out = f" ({skipped} suppressed since will be skipped)" if skipped else ""
    return (f"Send {unknown - skipped} unknown deliveries of {_label(campaign)} again{kept_out}? "
            "Some may have arrived already; those people would get it twice.")
