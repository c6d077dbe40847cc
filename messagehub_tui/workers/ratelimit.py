"""Smooth per-sender rate limits shared across processes through reserved slots in the database."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from email.utils import parseaddr

from messagehub_tui.config import EmailTransport, Settings
from messagehub_tui.database import concurrent_transaction
from messagehub_tui.models import Campaign, Channel, db

# Far above what one sender can push through (about 2,000 msg/s over SMTP on 2 cores): any rate
# above it, or one that is not a finite positive number, means no limit, rather than slot lists
# that grow with the rate (1e308 once built 2.3 GB).
MAX_RATE = 10_000.0


def effective_rate(rate: float | None) -> float:
    """The rate a limiter applies: 0 (no limit) for anything not in (0, MAX_RATE]."""
    if rate is None or not math.isfinite(rate) or rate <= 0 or rate > MAX_RATE:
        return 0.0
    return rate


def sender_key(settings: Settings, channel: str, sender: str) -> str:
    """Campaigns that share this key share one rate: same SMTP account, same From number."""
    if channel == Channel.EMAIL and settings.email.transport == EmailTransport.SMTP:
        email = settings.email
        return f"smtp:{email.host}:{email.effective_port}:{email.username or parseaddr(sender)[1]}"
    transport = settings.email.transport if channel == Channel.EMAIL else settings.sms.transport
    return f"{transport}:{channel}:{sender}"


def campaign_rate(settings: Settings, campaign: Campaign) -> float:
    """The rate a campaign sends at: its own, else its channel's [email] or [sms] rate."""
    if campaign.rate is not None:
        return float(campaign.rate)
    return settings.email.rate if campaign.channel == Channel.EMAIL else settings.sms.rate


def reserve_slots(sender_key: str, rate: float, count: int,
                  now: float | None = None) -> list[float]:
    """Reserve `count` consecutive send times 1/rate apart, after every earlier reservation;
    `rate` is an effective_rate above 0.

    One statement moves the sender's next free time on and returns it: on PostgreSQL, where
    processes on several hosts reserve at once, the row lock it takes makes each reservation
    start where the one before it ended, as SQLite's single writer does."""
    now = time.time() if now is None else now
    span = count / rate
    with concurrent_transaction():
        end = db.execute_sql(
            "INSERT INTO rate_slot (sender_key, next_at) VALUES (?, ?) "
            "ON CONFLICT (sender_key) DO UPDATE SET next_at = "
            "CASE WHEN rate_slot.next_at > ? THEN rate_slot.next_at ELSE ? END + ? "
            "RETURNING next_at", (sender_key, now + span, now, now, span)).fetchone()[0]
    start = end - span
    return [start + index / rate for index in range(count)]


class RateLimiter:
    """Waits for this process's next reserved slot, never closer than 1/rate to its last send
    (a late slot does not turn into a burst); rate 0 means no limit."""

    def __init__(self, sender_key: str, rate: float):
        self.sender_key = sender_key
        self.rate = effective_rate(rate)
        # a quarter second of slots per reservation, so the processes of a sender interleave
        self.chunk = max(1, int(self.rate / 4))
        self._slots: deque[float] = deque()
        self._last = 0.0

    async def wait(self, stop: asyncio.Event) -> bool:
        """Sleep until the next slot; False if told to stop first."""
        if self.rate <= 0:
            return not stop.is_set()
        if not self._slots:
            self._slots.extend(reserve_slots(self.sender_key, self.rate, self.chunk))
        now = time.time()
        at = max(self._slots.popleft(), self._last + 1 / self.rate, now)
        self._last = at
        delay = at - now
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        return not stop.is_set()
