"""Read-only views the UI refreshes from the database: campaign rows and one campaign's monitor data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from messagehub_tui import campaigns, control
from messagehub_tui.models import Campaign, CampaignStatus, Event, db


@dataclass(frozen=True)
class CampaignRow:
    """One line of the launcher."""

    id: int
    name: str
    channel: str
    status: str
    sent: int
    total: int
    scheduled_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class MonitorData:
    """Everything the monitor shows for one campaign, read in one go."""

    row: CampaignRow
    counts: dict[str, int]
    started_at: datetime | None
    finished_at: datetime | None
    events: list[tuple[int, datetime, str, str]] = field(default_factory=list)
    errors: list[tuple[datetime, str]] = field(default_factory=list)


def _row(campaign: Campaign) -> tuple[CampaignRow, dict[str, int]]:
    total, counts = campaigns.counts(campaign)
    return CampaignRow(campaign.id, campaign.name, campaign.channel, campaign.status,
                       counts["sent"], total, campaign.scheduled_at, campaign.last_error), counts


def campaign_rows(statuses: list[str] | None = None) -> list[CampaignRow]:
    """Campaigns for the launcher (all) or the overview (those in `statuses`), newest first."""
    query = Campaign.select().order_by(Campaign.id.desc())
    if statuses is not None:
        query = query.where(Campaign.status.in_(statuses))
    try:
        return [_row(campaign)[0] for campaign in query]
    finally:
        db.close()


def active_rows() -> list[CampaignRow]:
    """Campaigns that are running, queued, paused or scheduled, for the overview."""
    return campaign_rows([*control.ACTIVE, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED])


def monitor_data(campaign_id: int, events: int = 30) -> MonitorData:
    """The campaign, its state counts, its latest events and its latest errors."""
    try:
        campaign = campaigns.get(campaign_id)
        row, counts = _row(campaign)
        recent = list(Event.select(Event.id, Event.at, Event.level, Event.message)
                      .where(Event.campaign == campaign_id)
                      .order_by(Event.id.desc()).limit(events))
        return MonitorData(
            row=row, counts=counts, started_at=campaign.started_at,
            finished_at=campaign.finished_at,
            events=[(e.id, e.at, e.level, e.message) for e in reversed(recent)],
            errors=[(e.at, e.message) for e in recent if e.level in ("error", "warning")][:8])
    finally:
        db.close()
