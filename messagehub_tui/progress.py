"""How fast a campaign goes and how long it takes: for the monitor, the overview and the CLI."""

from __future__ import annotations

import math
import time
from collections import deque

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


class RateMeter:
    """Messages per second from successive sent counts, exponentially weighted over about
    `SMOOTHING_SECONDS`, so a steady send reads steady although runners commit in batches
    that fall unevenly between reads; and the recent values for a sparkline."""

    def __init__(self, window: float = SMOOTHING_SECONDS):
        self.window = window
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None
        self.rate: float | None = None
        self.history: deque[float] = deque(maxlen=HISTORY_POINTS)

    def update(self, sent: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if self.first is None or self.last is None:
            self.first = self.last = (now, sent)
            return 0.0
        if now <= self.last[0]:
            return self.rate or 0.0
        elapsed = now - self.last[0]
        measured = max(0.0, (sent - self.last[1]) / elapsed)
        self.last = (now, sent)
        if self.rate is None or now - self.first[0] < self.window:
            # Within the first window (or at a second read that came later than that) the plain
            # average since the first read is the best guess.
            self.rate = max(0.0, (sent - self.first[1]) / (now - self.first[0]))
        else:
            # Weight by elapsed time, so the smoothing does not depend on how often we read.
            self.rate += (1 - math.exp(-elapsed / self.window)) * (measured - self.rate)
        self.history.append(self.rate)
        return self.rate

    def eta(self, remaining: int) -> float | None:
        """Seconds until `remaining` more are sent at the current rate, or None if unknown."""
        if not self.rate:
            return None
        return remaining / self.rate
