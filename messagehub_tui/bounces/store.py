"""The bounce table (schema v4, DDL in schema.MIGRATIONS[4]) and finding the delivery a report
is about."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from peewee import DateTimeField, ForeignKeyField, TextField

from messagehub_tui.addresses import InvalidAddress, normalise_email
from messagehub_tui.bounces import verp
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.message_id import home_token
from messagehub_tui.models import BaseModel, Campaign, Delivery, utcnow


class Bounce(BaseModel):
    """One recognised report (bounce or complaint), kept once per report so a poll that is
    repeated (the move to the processed folder failed) counts nothing twice."""

    message_key = TextField(unique=True)
    kind = TextField()
    address = TextField(null=True)
    delivery = ForeignKeyField(Delivery, null=True, on_delete="SET NULL")
    campaign = ForeignKeyField(Campaign, null=True, on_delete="SET NULL")
    diagnostic = TextField()
    at = DateTimeField(default=utcnow)


def _by_token(finding: Finding, template: str | None, home: Path) -> Delivery | None:
    if not template:
        return None
    for address in finding.envelope_to:
        token = verp.token_in(template, address)
        delivery_id = verp.read_token(verp.secret_key(home), token) if token else None
        if delivery_id is not None:
            found = Delivery.get_or_none(Delivery.id == delivery_id)
            if found:
                return found
    return None


def _by_message_id(finding: Finding) -> Delivery | None:
    """`<campaign.delivery.attempt.TOKEN@domain>`, made by this home (its token) only."""
    if not finding.original_message_id:
        return None
    parts = finding.original_message_id.split("@", 1)[0].split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or parts[3] != home_token():
        return None
    return Delivery.get_or_none((Delivery.id == int(parts[1]))
                                & (Delivery.campaign == int(parts[0])))


def _by_recipient(finding: Finding) -> Delivery | None:
    if not finding.recipient:
        return None
    try:
        address = normalise_email(finding.recipient)
    except InvalidAddress:
        return None
    return (Delivery.select().where(Delivery.address == address)
            .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).first())


def find_delivery(finding: Finding, template: str | None, home: Path) -> Delivery | None:
    """The delivery a report is about: by VERP token, else the quoted Message-ID, else the most
    recent delivery to the failed recipient."""
    return (_by_token(finding, template, home) or _by_message_id(finding)
            or _by_recipient(finding))


def already_recorded(message_key: str) -> bool:
    return Bounce.select().where(Bounce.message_key == message_key).exists()


def soft_count(address: str, window_seconds: float) -> int:
    """Soft bounces of an address within the window, this one included."""
    since = utcnow() - timedelta(seconds=window_seconds)
    return (Bounce.select().where((Bounce.address == address) & (Bounce.kind == Kind.SOFT.value)
                                  & (Bounce.at >= since)).count())
