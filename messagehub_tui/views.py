"""Read-only views the UI refreshes from the database: campaign rows, a campaign's monitor data."""

from __future__ import annotations

import operator
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce

from peewee import JOIN, fn

from messagehub_tui import campaigns
from messagehub_tui.deliveries import DeliveryRow, list_deliveries
from messagehub_tui.models import (
    ACTIVE,
    Campaign,
    CampaignStatus,
    ContactList,
    DeliveryStatus,
    Event,
)
from messagehub_tui.state import CampaignState

# The events control.py records when runners start, or when a campaign is given a new time;
# problems before the latest one are history (an "interrupted… resume to continue" must not stay
# on show once the campaign was resumed, nor a "missed" once it was scheduled again).
RUN_STARTS = ("resumed", "launched:%", "retrying %", "scheduled for %", "schedule cleared")


@dataclass(frozen=True)
class LoggedEvent:
    """One line of a campaign's event log."""

    id: int
    at: datetime
    level: str
    message: str


@dataclass(frozen=True)
class MonitorData:
    """Everything the monitor shows for one campaign, read in one go."""

    state: CampaignState
    events: list[LoggedEvent] = field(default_factory=list)
    errors: list[LoggedEvent] = field(default_factory=list)


def campaign_rows(statuses: Collection[CampaignStatus] | None = None) -> list[CampaignState]:
    """Campaigns for the launcher (all) or the overview (those in `statuses`), newest first."""
    # Selected with its list, so that naming the list costs no query per campaign.
    query = (Campaign.select(Campaign, ContactList)
             .join(ContactList, JOIN.LEFT_OUTER).order_by(Campaign.id.desc()))
    if statuses is not None:
        query = query.where(Campaign.status.in_([status.value for status in statuses]))
    return [campaigns.state_of(campaign) for campaign in query]


def active_rows() -> list[CampaignState]:
    """Campaigns that are running, queued, paused or scheduled, for the overview."""
    return campaign_rows([*ACTIVE, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED])


def active_ids() -> list[int]:
    """Campaigns still queued or running (one indexed query)."""
    return [c.id for c in Campaign.select(Campaign.id).where(Campaign.status.in_(list(ACTIVE)))]


def monitor_data(campaign_id: int, events: int = 30) -> MonitorData:
    """The campaign, its state counts, its latest events and its latest errors (only those since
    its runners last started)."""
    state = campaigns.status(campaign_id)
    recent = [LoggedEvent(e.id, e.at, e.level, e.message)
              for e in Event.select(Event.id, Event.at, Event.level, Event.message)
              .where(Event.campaign == campaign_id).order_by(Event.id.desc()).limit(events)]
    started = (Event.select(fn.MAX(Event.id))
               .where((Event.campaign == campaign_id)
                      & reduce(operator.or_, [Event.message ** start for start in RUN_STARTS]))
               .scalar())
    return MonitorData(
        state=state, events=list(reversed(recent)),
        errors=[e for e in recent if e.level in ("error", "warning")
                and (started is None or e.id > started)][:8])


# The states a user acts on come first in the monitor's list of deliveries.
NEEDS_ATTENTION = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)


def delivery_rows(campaign_id: int, limit: int = 500) -> list[DeliveryRow]:
    """A campaign's deliveries for the monitor: failed, then unknown, then the others, each group
    most recently changed first, at most `limit` of each group."""
    rows = [row for state in NEEDS_ATTENTION for row in list_deliveries(campaign_id, state, limit)]
    others = list_deliveries(campaign_id, limit=limit + len(rows))
    return rows + [row for row in others if row.status not in NEEDS_ATTENTION][:limit]
