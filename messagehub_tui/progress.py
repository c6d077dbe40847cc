"""How fast a campaign goes and how long it takes: for the monitor, the overview and the CLI."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import NamedTuple

SMOOTHING_SECONDS = 10.0
HISTORY_POINTS = 120


def duration(seconds: float | None) -> str:
    """`1h 02m 03s`, `4m 05s`, `6s`, or `-`."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


class _Sample(NamedTuple):
    at: float  # time.monotonic()
    sent: int


class RateMeter:
    """Messages per second from successive sent counts, exponentially weighted over about
    `SMOOTHING_SECONDS`, so a steady send reads steady although runners commit in batches
    that fall unevenly between reads; and the recent values for a sparkline."""

    def __init__(self, window: float = SMOOTHING_SECONDS) -> None:
        self.window = window
        self.first: _Sample | None = None
        self.last: _Sample | None = None
        self.rate: float | None = None
        self.history: deque[float] = deque(maxlen=HISTORY_POINTS)

    def update(self, sent: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if self.first is None or self.last is None:
            self.first = self.last = _Sample(now, sent)
            return 0.0
        if now <= self.last.at:
            return self.rate or 0.0
        elapsed = now - self.last.at
        measured = max(0.0, (sent - self.last.sent) / elapsed)
        self.last = _Sample(now, sent)
        if self.rate is None or now - self.first.at < self.window:
            # Within the first window (or at a second read that came later than that) the plain
            # average since the first read is the best guess.
            self.rate = max(0.0, (sent - self.first.sent) / (now - self.first.at))
        else:
            # Weight by elapsed time, so the smoothing does not depend on how often we read.
            self.rate += (1 - math.exp(-elapsed / self.window)) * (measured - self.rate)
        self.history.append(self.rate)
        return self.rate

    def follow(self, sent: int, sending: bool, now: float | None = None) -> float | None:
        """The rate while the campaign sends (`update`); None while it does not, and the meter
        starts afresh then, so a resumed run is measured from its own start, not averaged with
        the pause."""
        if not sending:
            self.first = self.last = self.rate = None
            self.history.clear()
            return None
        return self.update(sent, now)

    def eta(self, remaining: int) -> float | None:
        """Seconds until `remaining` more are sent at the current rate, or None if unknown."""
        if not self.rate:
            return None
        return remaining / self.rate
