"""Which recipients of a campaign are in which state, and why: the list the CLI and monitor show."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TextIO

from peewee import JOIN

from messagehub_tui.csvsafe import safe_cell
from messagehub_tui.errors import MessagehubError, NotFound
from messagehub_tui.feedback import Signal, of_deliveries
from messagehub_tui.models import Campaign, Channel, Contact, Delivery, DeliveryStatus


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
    # What the transport answered on sending (None until sent): Twilio's MessageSid, the SMTP
    # server's reply to the message ("2.0.0 Ok: queued as 4F9…": its queue id), the
    # outbox's file name. What one looks up in the provider's console or the mail log.
    provider_id: str | None = None
    feedback: tuple[Signal, ...] = ()  # what was heard back about it, oldest first

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds heard back, each once, in the order first heard."""
        return tuple(dict.fromkeys(signal.kind for signal in self.feedback))

    @property
    def heard(self) -> str:
        """The kinds heard back, in order, for a table cell ("-" when none)."""
        return ",".join(self.kinds) or "-"


def list_deliveries(campaign_id: int, status: DeliveryStatus | None = None,
                    limit: int | None = None) -> list[DeliveryRow]:
    """A campaign's deliveries, optionally of one state, most recently changed first."""
    query = (Delivery.select(Delivery.id, Delivery.address, Delivery.status, Delivery.attempts,
                             Delivery.error, Delivery.updated_at, Delivery.contact,
                             Delivery.provider_id)
             .where(Delivery.campaign == campaign_id)
             .order_by(Delivery.updated_at.desc(), Delivery.id.desc()))
    if status is not None:
        query = query.where(Delivery.status == status.value)
    if limit is not None:
        query = query.limit(limit)
    rows = list(query)
    heard = of_deliveries([row.id for row in rows])
    return [DeliveryRow(row.id, row.address, DeliveryStatus(row.status), row.attempts, row.error,
                        row.updated_at, row.contact_id, row.provider_id,
                        tuple(heard.get(row.id, ())))
            for row in rows]


# Columns an export adds for the reader; `import` ignores them (contacts._parse_row), so a fixed
# export re-imports the same contacts.
EXPORT_ONLY_COLUMNS = ("delivery_status", "delivery_reason")
_CONTACT_COLUMNS = ("email", "phone", "first_name", "last_name")


class _ExportedDelivery(NamedTuple):
    """One delivery joined with its contact; the contact's columns are None once it is deleted."""

    address: str
    status: str
    error: str | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    attributes: str | None


def export_table(campaign_id: int, status: DeliveryStatus) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a campaign's deliveries in one state, as a CSV `import` reads back: the
    contact's fields and attributes, then the delivery's state and last reason."""
    campaign = Campaign.get_or_none(Campaign.id == campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    channel = campaign.channel
    query = (Delivery.select(Delivery.address, Delivery.status, Delivery.error, Contact.email,
                             Contact.phone, Contact.first_name, Contact.last_name,
                             Contact.attributes)
             .join(Contact, JOIN.LEFT_OUTER, on=(Delivery.contact == Contact.id))
             .where((Delivery.campaign == campaign_id) & (Delivery.status == status.value))
             .order_by(Delivery.id).tuples())
    # Read as tuples into a typed row: the joined contact columns are not Delivery fields.
    records: list[tuple[dict[str, str], dict[str, object], str, str]] = []
    attribute_names: dict[str, None] = {}  # every contact's attribute names, in first-seen order
    for row in map(_ExportedDelivery._make, query.execute()):
        attributes = json.loads(row.attributes) if row.attributes else {}
        attribute_names.update(dict.fromkeys(attributes))
        if row.email is None and row.phone is None:  # the contact was deleted since
            fields = {"email": row.address} if channel == Channel.EMAIL else {"phone": row.address}
        else:
            fields = {"email": row.email or "", "phone": row.phone or "",
                      "first_name": row.first_name or "", "last_name": row.last_name or ""}
        records.append((fields, attributes, row.status, row.error or ""))
    header = [*_CONTACT_COLUMNS, *attribute_names, *EXPORT_ONLY_COLUMNS]
    rows = [[*(fields.get(name, "") for name in _CONTACT_COLUMNS),
             *(str(attributes.get(name, "")) for name in attribute_names), state, reason]
            for fields, attributes, state, reason in records]
    return header, rows


def write_csv(out: TextIO, header: list[str], rows: list[list[str]]) -> None:
    """The export as CSV, every cell safe to open in a spreadsheet."""
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)


def write_export(campaign_id: int, status: DeliveryStatus, path: Path) -> int:
    """Write the export to a new file readable by its owner only; returns the number of rows.

    Refuses an existing file, and removes its own file again if writing stops half way."""
    header, rows = export_table(campaign_id, status)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.is_dir():  # '' reaches here as '.'
            raise MessagehubError(f"{path} is a folder: name a new file in it, as in "
                                  f"{path / 'export.csv'}") from None
        raise MessagehubError(f"{path} already exists; export never overwrites a file") from None
    except OSError as exc:
        raise MessagehubError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            write_csv(out, header, rows)
    except BaseException as exc:
        # Whatever stopped it (a full disk, Ctrl-C), no half-written file stays behind for the
        # next export to refuse.
        path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise MessagehubError(f"cannot write {path}: {exc.strerror}; nothing exported") \
                from None
        raise
    return len(rows)
