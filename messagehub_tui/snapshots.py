"""Read-only views the UI refreshes from the database: campaign rows, a campaign's monitor data."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce

from peewee import fn

from messagehub_tui import campaigns, control
from messagehub_tui.deliveries import DeliveryRow, list_deliveries
from messagehub_tui.models import Campaign, CampaignStatus, DeliveryStatus, Event
from messagehub_tui.progress import progress

# The events control.py records when runners start; problems before the latest one are history
# (an "interrupted… resume to continue" must not stay on show once the campaign was resumed).
RUN_STARTS = ("resumed", "launched:%", "retrying %")


@dataclass(frozen=True)
class CampaignRow:
    """One line of the launcher."""

    id: int
    name: str
    channel: str
    status: str
    sent: int
    total: int
    done: int
    deliverable: int
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
    done, deliverable = progress(counts)
    return CampaignRow(campaign.id, campaign.name, campaign.channel, campaign.status,
                       counts["sent"], total, done, deliverable, campaign.scheduled_at,
                       campaign.last_error), counts


def campaign_rows(statuses: list[str] | None = None) -> list[CampaignRow]:
    """Campaigns for the launcher (all) or the overview (those in `statuses`), newest first."""
    query = Campaign.select().order_by(Campaign.id.desc())
    if statuses is not None:
        query = query.where(Campaign.status.in_(statuses))
    return [_row(campaign)[0] for campaign in query]


def active_rows() -> list[CampaignRow]:
    """Campaigns that are running, queued, paused or scheduled, for the overview."""
    return campaign_rows([*control.ACTIVE, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED])


def monitor_data(campaign_id: int, events: int = 30) -> MonitorData:
    """The campaign, its state counts, its latest events and its latest errors (only those since
    its runners last started)."""
    campaign = campaigns.get(campaign_id)
    row, counts = _row(campaign)
    recent = list(Event.select(Event.id, Event.at, Event.level, Event.message)
                  .where(Event.campaign == campaign_id)
                  .order_by(Event.id.desc()).limit(events))
    started = (Event.select(fn.MAX(Event.id))
               .where((Event.campaign == campaign_id)
                      & reduce(operator.or_, [Event.message ** start for start in RUN_STARTS]))
               .scalar())
    return MonitorData(
        row=row, counts=counts, started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        events=[(e.id, e.at, e.level, e.message) for e in reversed(recent)],
        errors=[(e.at, e.message) for e in recent if e.level in ("error", "warning")
                and (started is None or e.id > started)][:8])


# The states a user acts on come first in the monitor's list of deliveries.
NEEDS_ATTENTION = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)


def delivery_rows(campaign_id: int, limit: int = 500) -> list[DeliveryRow]:
    """A campaign's deliveries for the monitor: failed, then unknown, then the others, each group
    most recently changed first, at most `limit` of each group."""
    rows = [row for state in NEEDS_ATTENTION for row in list_deliveries(campaign_id, state, limit)]
    others = list_deliveries(campaign_id, limit=limit + len(rows))
    return rows + [row for row in others if row.status not in NEEDS_ATTENTION][:limit]
