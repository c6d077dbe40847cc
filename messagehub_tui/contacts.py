"""Contacts: CSV import (in importer.py), lists with member counts, suppressions."""

from __future__ import annotations

from messagehub_tui import config_checks, feedback
from messagehub_tui.addresses import normalise
from messagehub_tui.errors import MessagehubError, NotFound
from messagehub_tui.importer import ImportResult, ImportStopped, Rejected, import_csv
from messagehub_tui.models import (
    Campaign,
    CampaignStatus,
    ContactList,
    ListMember,
    Suppression,
    bump_audience_version,
    db,
)

__all__ = ["ImportResult", "ImportStopped", "Rejected", "delete_list", "get_list", "import_csv",
           "lists", "suppress", "suppressions", "unsuppress", "unsuppress_ids"]

# A campaign in one of these states still needs its list (to launch, or to resume).
_FINISHED = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


def get_list(name: str) -> ContactList:
    """The list called name, or NotFound naming it."""
    found = ContactList.get_or_none(ContactList.name == name)
    if found is None:
        raise NotFound(f"no list named {name!r}")
    return found


def lists() -> list[tuple[str, int]]:
    """Every list's name with its member count, by name."""
    cursor = db.execute_sql(
        "SELECT l.name, COUNT(m.contact_id) FROM contact_list l "
        "LEFT JOIN list_member m ON m.contact_list_id = l.id GROUP BY l.id ORDER BY l.name")
    return [(name, members) for name, members in cursor]


def delete_list(name: str) -> int:
    """Delete a list (never its contacts); returns how many members it had.

    Refused while a campaign that is not finished uses it: the campaign would lose its audience.
    """
    with db.atomic():
        found = get_list(name)
        users = list(Campaign.select(Campaign.id, Campaign.name, Campaign.status).where(
            (Campaign.contact_list == found)
            & Campaign.status.not_in([status.value for status in _FINISHED])))
        if users:
            named = ", ".join(f"{c.id} {c.name!r} ({c.status})" for c in users[:5])
            raise MessagehubError(
                f"list {name!r} is used by campaign{'s' if len(users) > 1 else ''} {named}: "
                "delete or finish it, or give it another list, first")
        members = ListMember.select().where(ListMember.contact_list == found).count()
        ListMember.delete().where(ListMember.contact_list == found).execute()
        found.delete_instance()
        bump_audience_version()
    return members


def suppress(addresses: list[str], channel: str, reason: str = "",
             region: str | None = None) -> int:
    """Never send to these addresses on channel again; returns how many were newly added."""
    if not config_checks.is_one_line(reason):
        raise MessagehubError("the reason must be one line, without line breaks or control "
                              "characters: `suppressions` shows one suppression a line")
    normal = [normalise(channel, address, region) for address in addresses]
    return feedback.suppress_many(channel, normal, reason)


def unsuppress(addresses: list[str], channel: str, region: str | None = None) -> int:
    """Allow these addresses again; returns how many were removed."""
    normal = [normalise(channel, address, region) for address in addresses]
    return feedback.unsuppress_many(channel, normal)


def unsuppress_ids(ids: list[int]) -> int:
    """Allow the addresses of these suppression rows again; returns how many were removed."""
    return feedback.unsuppress_ids(ids)


def suppressions(channel: str | None = None) -> list[Suppression]:
    """The suppression list, newest first, optionally for one channel."""
    query = Suppression.select().order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if channel:
        query = query.where(Suppression.channel == channel)
    return list(query)
