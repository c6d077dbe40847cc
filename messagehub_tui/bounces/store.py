"""Finding the delivery a report or an unsubscribe request is about, counting an address's soft
bounces (recorded by feedback.py), and how far the poller has read each mailbox folder (meta
table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from messagehub_tui import signing
from messagehub_tui.addresses import InvalidAddress, normalise_email
from messagehub_tui.bounces import verp
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.message_id import home_token
from messagehub_tui.models import Delivery, Feedback, Meta, utcnow


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


def _by_unsubscribe_token(finding: Finding, home: Path) -> Delivery | None:
    key = signing.secret_key(home)
    for token in finding.tokens:
        delivery_id = signing.read_unsubscribe_token(key, token)
        found = Delivery.get_or_none(Delivery.id == delivery_id) if delivery_id else None
        if found:
            return found
    return None


def find_delivery(finding: Finding, template: str | None, home: Path) -> Delivery | None:
    """The delivery a report is about: by VERP token, else the quoted Message-ID, else the most
    recent delivery to the failed recipient. An unsubscribe request only by its signed token:
    anyone can write an address into a mail."""
    if finding.kind == Kind.UNSUBSCRIBE:
        return _by_unsubscribe_token(finding, home)
    return (_by_token(finding, template, home) or _by_message_id(finding)
            or _by_recipient(finding))


def soft_count(address: str, window_seconds: float) -> int:
    """Soft bounces recorded for deliveries to an address within the window, this one included
    (feedback.py records them; a delivery deleted since no longer counts)."""
    since = utcnow() - timedelta(seconds=window_seconds)
    return (Feedback.select().join(Delivery)
            .where((Feedback.kind == FeedbackKind.SOFT_BOUNCED.value) & (Feedback.at >= since)
                   & (Delivery.address == address)).count())


@dataclass(frozen=True)
class ReadMark:
    """How far a folder has been read: every message up to `last_uid` was seen, as long as the
    folder's UIDVALIDITY is still `validity` (RFC 3501 2.3.1.1: else its UIDs mean other mail)."""

    validity: int
    last_uid: int


_MARK = "imap_read:"


def read_mark(folder_key: str) -> ReadMark | None:
    row = Meta.get_or_none(Meta.key == _MARK + folder_key)
    if row is None:
        return None
    validity, _, last = row.value.partition(":")
    return ReadMark(int(validity), int(last)) if validity.isdigit() and last.isdigit() else None


def save_mark(folder_key: str, mark: ReadMark) -> None:
    value = f"{mark.validity}:{mark.last_uid}"
    Meta.insert(key=_MARK + folder_key, value=value) \
        .on_conflict(conflict_target=[Meta.key], update={Meta.value: value}).execute()
