"""Which recipients of a campaign are in which state, and why: the list the CLI and monitor show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messagehub_tui.models import Delivery, DeliveryStatus


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One recipient of a campaign as a user sees it."""

    id: int
    address: str
    status: DeliveryStatus
    attempts: int
    reason: str | None
    updated_at: datetime
    contact_id: int | None


def list_deliveries(campaign_id: int, status: DeliveryStatus | None = None,
                    limit: int | None = None) -> list[DeliveryRow]:
    """A campaign's deliveries, optionally of one state, most recently changed first."""
    query = (Delivery.select(Delivery.id, Delivery.address, Delivery.status, Delivery.attempts,
                             Delivery.error, Delivery.updated_at, Delivery.contact)
             .where(Delivery.campaign == campaign_id)
             .order_by(Delivery.updated_at.desc(), Delivery.id.desc()))
    if status is not None:
        query = query.where(Delivery.status == status.value)
    if limit is not None:
        query = query.limit(limit)
    return [DeliveryRow(row.id, row.address, DeliveryStatus(row.status), row.attempts, row.error,
                        row.updated_at, row.contact_id) for row in query]
