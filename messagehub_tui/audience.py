"""Who a campaign reaches: its list's members with an address on its channel, minus suppressions."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from messagehub_tui.database import on_postgres
from messagehub_tui.errors import NotFound
from messagehub_tui.feedback import SUPPRESSED_ERROR
from messagehub_tui.models import (
    Campaign,
    Channel,
    Contact,
    DeliveryStatus,
    ListMember,
    audience_version,
    db,
)

_ADDRESS_COLUMN: dict[str, str] = {Channel.EMAIL: "email", Channel.SMS: "phone"}


def _members_sql(channel: str) -> tuple[str, str]:
    """The FROM … WHERE of a list's members with an address on `channel`, and that column."""
    column = _ADDRESS_COLUMN[channel]
    return (
        f"FROM list_member m JOIN contact c ON c.id = m.contact_id "
        f"LEFT JOIN suppression s ON s.channel = ? AND s.address = c.{column} "
        f"WHERE m.contact_list_id = ? AND c.{column} IS NOT NULL"
    ), column


class _Counted(NamedTuple):
    version: str  # the audience version the counts were read at
    counts: tuple[int, int]  # (total, suppressed)


_counted: dict[tuple[str, int, str], _Counted] = {}


def audience_counts(campaign: Campaign) -> tuple[int, int]:
    """(total, suppressed) of a campaign not materialised yet; recounted only after a change."""
    if campaign.contact_list_id is None:
        return 0, 0
    # The database file is in the key because one process (the tests, the bench) opens several
    # homes whose list ids repeat; the audience version, bumped by every import, membership
    # and suppression change in any process, says when a count is stale.
    key = (db.database, campaign.contact_list_id, campaign.channel)
    version = audience_version()
    cached = _counted.get(key)
    if cached is None or cached.version != version:
        where, _ = _members_sql(campaign.channel)
        counts = db.execute_sql(f"SELECT COUNT(*), COUNT(s.id) {where}",
                                (campaign.channel, campaign.contact_list_id)).fetchone()
        _counted[key] = cached = _Counted(version, (counts[0], counts[1]))
    return cached.counts


def materialise_sql(campaign: Campaign, now: datetime) -> tuple[str, tuple[object, ...]]:
    """One INSERT … SELECT that creates every delivery row, suppressed ones as skipped."""
    where, column = _members_sql(campaign.channel)
    sql = (
        "INSERT INTO delivery (campaign_id, contact_id, address, status, attempts, "
        "next_attempt_at, error, updated_at) "
        f"SELECT ?, c.id, c.{column}, CASE WHEN s.id IS NULL THEN ? ELSE ? END, "
        "0, 0, CASE WHEN s.id IS NULL THEN NULL ELSE ? END, ? "
        f"{where} ORDER BY c.id ON CONFLICT DO NOTHING"
    )
    return sql, (campaign.id, DeliveryStatus.PENDING.value, DeliveryStatus.SKIPPED.value,
                 SUPPRESSED_ERROR, now, campaign.channel, campaign.contact_list_id)


def attribute_names(contact_list_id: int | None) -> set[str]:
    """Every attribute column any member of the list carries."""
    if contact_list_id is None:
        return set()
    keys = "jsonb_object_keys(c.attributes::jsonb) AS j(key)" if on_postgres() \
        else "json_each(c.attributes) j"
    cursor = db.execute_sql(
        "SELECT DISTINCT j.key FROM list_member m JOIN contact c ON c.id = m.contact_id, "
        f"{keys} WHERE m.contact_list_id = ?", (contact_list_id,))
    return {row[0] for row in cursor}


def campaign_member(campaign: Campaign, address: str | None = None) -> Contact | None:
    """`first_member` of a campaign's list. A finished campaign's list may have been deleted
    (`lists --delete`; the campaign keeps its deliveries): NotFound says so, where an empty
    answer would read as a list without addresses."""
    if campaign.contact_list_id is None:
        raise NotFound(f"campaign {campaign.id}'s list was deleted (lists --delete): it has no "
                       "contacts to take a message's data from any more")
    return first_member(campaign.contact_list_id, campaign.channel, address)


def first_member(contact_list_id: int | None, channel: str, address: str | None = None) -> Contact:
    """The list's first member with an address on the channel, or the one with that address."""
    column = getattr(Contact, _ADDRESS_COLUMN[channel])
    query = (Contact.select().join(ListMember, on=(ListMember.contact == Contact.id))
             .where((ListMember.contact_list == contact_list_id) & column.is_null(False))
             .order_by(Contact.id))
    if address is not None:
        query = query.where(column == address)
    return query.first()
