"""Hearing back: the one service that records every signal about a delivery (delivered,
undelivered, bounced, complained, unsubscribed, replied) and the one home of suppress-with-reason.

Transports, the bounce mailbox and the web endpoint only parse and verify; they call this. Every
signal carries an idempotency key (a bounce report's Message-ID, a Twilio MessageSid with its
status, "unsubscribe:<delivery>"): a report polled twice, a callback retried, a button pressed
again is recorded once. Per-campaign counts are kept in the same transaction (feedback_count), so
a rate is one cheap read.

A soft bounce is its own kind, `soft_bounced`: it counts (and is shown) separately and never
enters the bounce rate, which is about hard bounces only (mailbox providers judge senders by
those); repeated soft bounces that end in a suppression are still recorded as `soft_bounced`,
the suppression's reason says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from peewee import Expression, chunked

from messagehub_tui.config import Settings
from messagehub_tui.events import record_event
from messagehub_tui.models import (
    Campaign,
    Delivery,
    DeliveryCount,
    DeliveryStatus,
    Feedback,
    FeedbackCount,
    Suppression,
    bump_audience_version,
    db,
    iso_utc,
    utcnow,
)

MAX_DETAIL = 500
_CHUNK = 500  # addresses per statement: well under SQLite's bound-parameter limit


class FeedbackKind(StrEnum):
    """What was heard back about a delivery."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    BOUNCED = "bounced"  # a hard bounce
    SOFT_BOUNCED = "soft_bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    REPLIED = "replied"


# A delivery bounces or is complained about once, however many reports say so (the provider's
# webhook and the DSN in the bounce mailbox, a provider posting twice with another reason): each
# report is kept, but the counts, and so the rates that pause a campaign, count deliveries.
# Soft bounces and replies can truly happen again; the others have one key per delivery anyway.
ONCE_PER_DELIVERY = frozenset({FeedbackKind.BOUNCED, FeedbackKind.COMPLAINED})

# The kinds whose share of the messages sent is a rate, by the rate's name (the monitor shows
# all three; over_limit pauses on the first two).
RATES = {FeedbackKind.BOUNCED: "bounce", FeedbackKind.COMPLAINED: "complaint",
         FeedbackKind.UNSUBSCRIBED: "unsubscribe"}
# A delivery skipped because its address is suppressed says so in its error.
SUPPRESSED_ERROR = "suppressed"


@dataclass(frozen=True)
class FeedbackCounts:
    """How many signals of each kind a campaign got (one field per `FeedbackKind`)."""

    delivered: int = 0
    undelivered: int = 0
    bounced: int = 0
    soft_bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    replied: int = 0

    @classmethod
    def of(cls, by_kind: Mapping[str, int]) -> FeedbackCounts:
        return cls(**{kind.value: by_kind.get(kind.value, 0) for kind in FeedbackKind})

    def __getitem__(self, kind: FeedbackKind) -> int:
        return int(getattr(self, FeedbackKind(kind).value))

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name) for field in fields(self))

    def rate(self, kind: FeedbackKind, sent: int) -> float:
        """The share of `sent` messages that got this kind of signal (0 when none was sent)."""
        return self[kind] / sent if sent else 0.0

    def to_json(self) -> dict[str, int]:
        """Counts by kind, in `FeedbackKind` order (as `status --json` prints them)."""
        return {kind.value: self[kind] for kind in FeedbackKind}


@dataclass(frozen=True)
class Target:
    """The delivery a signal is about, with what suppressing its recipient needs."""

    delivery_id: int
    campaign_id: int
    channel: str
    address: str


def target(delivery_id: int) -> Target | None:
    """The delivery with this id, or None when it no longer exists."""
    row = (Delivery.select(Delivery.id, Delivery.campaign, Delivery.address, Campaign.channel)
           .join(Campaign).where(Delivery.id == delivery_id).tuples().first())
    if row is None:
        return None
    return Target(row[0], row[1], row[3], row[2])


def record(delivery_id: int | None, campaign_id: int | None, kind: FeedbackKind, detail: str,
           key: str) -> bool:
    """Record one signal; False when its key was recorded before (nothing changes then).

    The campaign is taken from the delivery when not given.
    """
    kind = FeedbackKind(kind)
    # A serialised write transaction (db.atomic, not concurrent_transaction): on PostgreSQL
    # too, a second report about the same delivery waits for this one to commit, so its
    # _counted_before sees this row and counts the delivery once (test_feedback, at the same
    # moment).
    with db.atomic():
        if campaign_id is None and delivery_id is not None:
            campaign_id = (Delivery.select(Delivery.campaign).where(Delivery.id == delivery_id)
                           .scalar())
        added = (Feedback.insert(key=key, delivery=delivery_id, campaign=campaign_id,
                                 kind=kind.value, detail=detail[:MAX_DETAIL], at=utcnow())
                 .on_conflict_ignore().as_rowcount().execute())
        if added and campaign_id is not None and not _counted_before(delivery_id, kind, key):
            (FeedbackCount.insert(campaign=campaign_id, kind=kind.value, n=1)
             .on_conflict(conflict_target=[FeedbackCount.campaign, FeedbackCount.kind],
                          update={FeedbackCount.n: FeedbackCount.n + 1})
             .execute())
    return bool(added)


def _counted_before(delivery_id: int | None, kind: FeedbackKind, key: str) -> bool:
    """Whether another signal of this kind about this delivery already counts (see
    ONCE_PER_DELIVERY)."""
    if kind not in ONCE_PER_DELIVERY or delivery_id is None:
        return False
    return (Feedback.select().where((Feedback.delivery == delivery_id)
                                    & (Feedback.kind == kind.value) & (Feedback.key != key))
            .exists())


def suppress(channel: str, address: str, reason: str, campaign_id: int | None = None) -> bool:
    """Never send to this (normalised) address on channel again; False if it already was."""
    return suppress_many(channel, [address], reason, campaign_id) > 0


def suppress_many(channel: str, addresses: Iterable[str], reason: str,
                  campaign_id: int | None = None) -> int:
    """Suppress normalised addresses with a reason (and the campaign it came from); returns how
    many were newly suppressed.

    In the same transaction, the addresses' pending deliveries on this channel become skipped,
    so a running campaign (whose runners claim pending rows only) never sends to them, and the
    audience version is bumped so every cached audience count is recomputed.
    """
    now, added = utcnow(), 0
    with db.atomic():
        for chunk in chunked(dict.fromkeys(addresses), _CHUNK):
            added += (Suppression.insert_many(
                [{"channel": channel, "address": address, "reason": reason,
                  "campaign": campaign_id, "created_at": now} for address in chunk])
                .on_conflict_ignore().as_rowcount().execute())
            campaigns = Campaign.select(Campaign.id).where(Campaign.channel == channel)
            (Delivery.update(status=DeliveryStatus.SKIPPED.value, error=SUPPRESSED_ERROR,
                             updated_at=now)
             .where((Delivery.status == DeliveryStatus.PENDING.value)
                    & Delivery.address.in_(chunk) & Delivery.campaign.in_(campaigns))
             .execute())
        bump_audience_version()
    return added


def _suppressed_since(campaign_id: int, channel: str, states: list[str]) -> Expression:
    """The campaign's deliveries in these states whose address is suppressed on its channel:
    what a retry skips (the one home of that rule, for the retry and the question before it)."""
    suppressed = Suppression.select(Suppression.address).where(Suppression.channel == channel)
    return ((Delivery.campaign == campaign_id) & Delivery.status.in_(states)
            & Delivery.address.in_(suppressed))


def count_suppressed_since(campaign_id: int, channel: str, states: list[str]) -> int:
    """How many of the campaign's deliveries in these states a retry would skip."""
    return Delivery.select().where(_suppressed_since(campaign_id, channel, states)).count()


def skip_suppressed(campaign_id: int, channel: str, states: list[str]) -> int:
    """The campaign's deliveries in these states whose address is suppressed on its channel
    become skipped, as suppress_many does to pending ones: a retry never sends to an address
    suppressed since (a STOP, a hard bounce). Returns how many."""
    return (Delivery.update(status=DeliveryStatus.SKIPPED.value, error=SUPPRESSED_ERROR,
                            updated_at=utcnow())
            .where(_suppressed_since(campaign_id, channel, states))
            .execute())


def unsuppress_many(channel: str, addresses: Iterable[str],
                    only_reason: str | None = None) -> int:
    """Allow normalised addresses again (only suppressions with exactly `only_reason`, when
    given: a START lifts what a STOP did, never a bounce); returns how many were removed.
    Deliveries skipped meanwhile stay skipped."""
    removed = 0
    with db.atomic():
        for chunk in chunked(dict.fromkeys(addresses), _CHUNK):
            condition = (Suppression.channel == channel) & Suppression.address.in_(chunk)
            if only_reason is not None:
                condition &= Suppression.reason == only_reason
            removed += Suppression.delete().where(condition).execute()
        bump_audience_version()
    return removed


def unsuppress_ids(ids: list[int]) -> int:
    """Allow the addresses of these suppression rows again; returns how many were removed."""
    with db.atomic():
        bump_audience_version()
        return Suppression.delete().where(Suppression.id.in_(ids)).execute()


UNSUBSCRIBED_REASON = "unsubscribed"


def unsubscribe_key(delivery_id: int) -> str:
    """One unsubscribe per delivery, however it came (one-click link, mailto: request)."""
    return f"unsubscribe:{delivery_id}"


def recorded(key: str) -> bool:
    """Whether a signal with this key was recorded."""
    return Feedback.select().where(Feedback.key == key).exists()


def unsubscribe(settings: Settings, delivery_id: int, how: str) -> Target | None:
    """The recipient of a delivery asked to stop (a one-click POST, a STOP reply): record it
    once, suppress the address on the campaign's channel (again, if someone lifted it since),
    tell the campaign. None when the delivery no longer exists."""
    found = target(delivery_id)
    if found is None:
        return None
    with db.atomic():
        first = record(found.delivery_id, found.campaign_id, FeedbackKind.UNSUBSCRIBED, how,
                       unsubscribe_key(found.delivery_id))
        added = suppress(found.channel, found.address, UNSUBSCRIBED_REASON, found.campaign_id)
    if first or added:
        record_event(settings.logs_dir, found.campaign_id,
                     f"unsubscribed: {found.address} ({how})")
    return found


def latest_delivery(channel: str, address: str) -> Target | None:
    """The most recent delivery to a (normalised) address on a channel, for reports that carry
    no token."""
    row = (Delivery.select(Delivery.id).join(Campaign)
           .where((Delivery.address == address) & (Campaign.channel == channel))
           .order_by(Delivery.updated_at.desc(), Delivery.id.desc()).first())
    return target(row.id) if row else None


def report(settings: Settings, found: Target, kind: FeedbackKind, detail: str, key: str,
           suppress_reason: str | None) -> bool:
    """A provider's report about a delivery: record it once, suppress with `suppress_reason`
    when given, tell the campaign; False when the key was recorded before."""
    with db.atomic():
        first = record(found.delivery_id, found.campaign_id, kind, detail, key)
        added = first and suppress_reason is not None and suppress(
            found.channel, found.address, suppress_reason, found.campaign_id)
    if first:
        suppressed = "; address suppressed" if added else ""
        record_event(settings.logs_dir, found.campaign_id,
                     f"{kind.value.replace('_', ' ')} for {found.address}: {detail}{suppressed}",
                     "warning")
    return first


def over_limit(campaign_id: int, settings: Settings) -> str | None:
    """Why a campaign must pause for its feedback, or None: its hard-bounce or complaint rate
    passed [delivery] max_bounce_rate / max_complaint_rate once it sent rates_after messages."""
    delivery = settings.delivery
    sent = (DeliveryCount.select(DeliveryCount.n)
            .where((DeliveryCount.campaign == campaign_id)
                   & (DeliveryCount.status == DeliveryStatus.SENT.value)).scalar()) or 0
    if sent < delivery.rates_after:
        return None
    found = counts(campaign_id)
    for kind, limit, key in ((FeedbackKind.BOUNCED, delivery.max_bounce_rate, "max_bounce_rate"),
                             (FeedbackKind.COMPLAINED, delivery.max_complaint_rate,
                              "max_complaint_rate")):
        if found.rate(kind, sent) > limit:
            return (f"{RATES[kind]} rate {found.rate(kind, sent):.1%} ({found[kind]} of {sent} "
                    f"sent) passed [delivery] {key} = {limit:g}")
    return None


def counts(campaign_id: int) -> FeedbackCounts:
    """A campaign's feedback by kind: one read of its few feedback_count rows."""
    rows = (FeedbackCount.select(FeedbackCount.kind, FeedbackCount.n)
            .where(FeedbackCount.campaign == campaign_id))
    return FeedbackCounts.of({row.kind: row.n for row in rows})


@dataclass(frozen=True)
class Signal:
    """One recorded signal, as `deliveries ID` shows it."""

    kind: str
    detail: str
    at: datetime

    def to_json(self) -> dict:
        return {"kind": self.kind, "detail": self.detail, "at": iso_utc(self.at)}


def of_deliveries(delivery_ids: list[int]) -> dict[int | None, list[Signal]]:
    """The signals recorded about each of these deliveries, oldest first."""
    found: dict[int | None, list[Signal]] = {}
    for chunk in chunked(delivery_ids, _CHUNK):
        rows = (Feedback.select(Feedback.delivery, Feedback.kind, Feedback.detail, Feedback.at)
                .where(Feedback.delivery.in_(chunk)).order_by(Feedback.at, Feedback.id))
        for row in rows:
            found.setdefault(row.delivery_id, []).append(Signal(row.kind, row.detail, row.at))
    return found
