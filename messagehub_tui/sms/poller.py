"""The daemon's status poll: texts sent in the last 72 hours without a final status are fetched
(`client.messages(sid).fetch()`).

Without a [web] public_url Twilio cannot call back, and this is how statuses arrive: a text is
asked about when its age passes one of AGES (1 minute after sending, then ever more rarely), not
at every round, since some carriers never report delivery and such a text would otherwise be
fetched every minute for three days; at the daemon's start every text without a final status is
asked about once, to catch up. With a public_url, callbacks do the work and the poll is only a
safety net for callbacks lost while the endpoint was down: SAFETY_AGES, no catch-up.
Rounds run every POLL_EVERY.

Fetches are API requests of the same account as the sends: each one takes a slot of its sender's
rate (the RateSlot every runner of that sender reserves from), and never more than
MAX_FETCH_RATE a second, so a poll neither pushes sending past its limit nor floods Twilio.
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import DatabaseError, fn

from messagehub_tui.campaign_compose import effective_sender
from messagehub_tui.config import Settings, SmsTransport
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Campaign, Channel, Delivery, DeliveryStatus, Feedback, utcnow
from messagehub_tui.sms import status
from messagehub_tui.workers.leader import while_leading
from messagehub_tui.workers.ratelimit import (
    campaign_rate,
    effective_rate,
    reserve_slots,
    sender_key,
)

POLL_EVERY = 60.0
WINDOW = timedelta(hours=72)  # Twilio's status of an older message will not change any more
AGES = tuple(timedelta(minutes=minutes)
             for minutes in (1, 5, 15, 30, 60, 120, 240, 480, 960, 1440, 2880, 4260))
SAFETY_AGES = (timedelta(hours=2), timedelta(hours=24))
MAX_FETCH_RATE = 5.0
BATCH = 1000  # messages per round at most: the oldest first
log = logging.getLogger("messagehub.sms")


@dataclass(frozen=True)
class Due:
    """A sent text whose final status is not known yet."""

    delivery_id: int
    sid: str
    campaign_id: int


def ages(settings: Settings) -> tuple[timedelta, ...]:
    """When a text without a final status is asked about: often without callbacks, late with."""
    return SAFETY_AGES if settings.web.public_url else AGES


def due(since: datetime | None, now: datetime, steps: tuple[timedelta, ...] = AGES,
        limit: int = BATCH) -> list[Due]:
    """Texts with a MessageSid and no final status, sent within WINDOW, whose age passed one of
    `steps` between `since` (the previous round) and `now`; all of them when `since` is None."""
    final = (Feedback.select(Feedback.id)
             .where((Feedback.delivery == Delivery.id)
                    & Feedback.kind.in_([FeedbackKind.DELIVERED.value,
                                         FeedbackKind.UNDELIVERED.value])))
    which = ((Campaign.channel == Channel.SMS.value)
             & (Delivery.status == DeliveryStatus.SENT.value)
             & (Delivery.updated_at >= now - WINDOW)
             & Delivery.provider_id.startswith("SM") & ~fn.EXISTS(final))
    if since is not None:
        which &= functools.reduce(operator.or_, [
            (Delivery.updated_at > since - age) & (Delivery.updated_at <= now - age)
            for age in steps])
    rows = (Delivery.select(Delivery.id, Delivery.provider_id, Delivery.campaign_id)
            .join(Campaign).where(which)
            .order_by(Delivery.updated_at, Delivery.id).limit(limit))
    return [Due(row.id, str(row.provider_id), row.campaign_id) for row in rows]


class Pace:
    """Waits before each fetch: a slot of the campaign's sender rate when it has one, and never
    closer than 1/MAX_FETCH_RATE to the previous fetch."""

    def __init__(self, settings: Settings, stopping: threading.Event):
        self.settings = settings
        self.stopping = stopping
        self.senders: dict[int, tuple[str, float]] = {}
        self.last = 0.0

    def _sender(self, campaign_id: int) -> tuple[str, float]:
        if campaign_id not in self.senders:
            campaign = Campaign.get_or_none(Campaign.id == campaign_id)
            if campaign is None:  # deleted since: its deliveries went with it
                return "", 0.0
            rate = campaign_rate(self.settings, campaign)
            key = sender_key(self.settings, Channel.SMS.value,
                             effective_sender(campaign, self.settings))
            self.senders[campaign_id] = (key, effective_rate(rate))
        return self.senders[campaign_id]

    def wait(self, campaign_id: int) -> bool:
        """Sleep until this fetch may go; False when the daemon is stopping."""
        key, rate = self._sender(campaign_id)
        at = max(time.time(), self.last + 1 / MAX_FETCH_RATE)
        if rate > 0:
            at = max(at, reserve_slots(key, rate, 1)[0])
        self.last = at
        return not self.stopping.wait(max(0.0, at - time.time()))


def poll_once(settings: Settings, stopping: threading.Event, since: datetime | None = None,
              now: datetime | None = None) -> int:
    """One round: fetch the status of every text due (at the paced rate); returns how many final
    statuses were recorded. Problems are logged, never raised: Twilio being unreachable for a
    while must not stop the daemon's schedules."""
    # only when it polls: a daemon that sends no SMS never loads twilio
    from messagehub_tui.channels.twilio_sms import StatusReader, StatusUnavailable
    recorded = 0
    try:
        pending = due(since, now or utcnow(), ages(settings))
        if not pending:
            return 0
        if len(pending) == BATCH:
            log.warning("status poll: more than %d texts due; the oldest first", BATCH)
        reader = StatusReader(settings.sms)
        pace = Pace(settings, stopping)
        for item in pending:
            if not pace.wait(item.campaign_id):
                break
            report = reader.fetch(item.sid)
            if report is None:
                log.info("status poll: Twilio does not know %s (delivery %s)", item.sid,
                         item.delivery_id)
                continue
            applied = status.apply(settings, report)
            recorded += bool(applied and applied.recorded)
    except StatusUnavailable as exc:
        log.warning("status poll: %s", exc)
    except DatabaseError as exc:
        log.error("status poll: database error: %s", exc)
    if recorded:
        log.info("status poll: %d final statuses recorded", recorded)
    return recorded


class _Rounds:
    """The poll's rounds, each asking about the texts whose age passed a step since the last."""

    def __init__(self, settings: Settings, stopping: threading.Event):
        self.settings, self.stopping = settings, stopping
        # without callbacks the first round catches up with everything not final; with them,
        # the callbacks did (the poll only catches what they lost). A daemon that does not lead
        # keeps `since`: it catches up once it does.
        self.since = utcnow() - timedelta(seconds=POLL_EVERY) if settings.web.public_url \
            else None

    def __call__(self) -> None:
        now = utcnow()
        poll_once(self.settings, self.stopping, self.since, now)
        self.since = now


def start_status_poll(settings: Settings, stopping: threading.Event,
                      leading: Callable[[], bool]) -> threading.Thread | None:
    """Poll Twilio for delivery status when SMS go through Twilio; the thread ends when
    `stopping` is set. With several hosts on one database only the leading daemon polls."""
    if settings.sms.transport != SmsTransport.TWILIO:
        return None
    thread = threading.Thread(
        target=while_leading, name="sms-status-poll", daemon=True,
        args=(stopping, POLL_EVERY, leading, _Rounds(settings, stopping)))
    thread.start()
    if settings.web.public_url:
        log.info("polling Twilio for statuses its callbacks did not bring, %s after sending",
                 " and ".join(str(age) for age in SAFETY_AGES))
    else:
        log.info("no [web] public_url: polling Twilio for delivery status")
    return thread
