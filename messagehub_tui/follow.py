"""Waiting on a campaign until it leaves queued/running: one loop for `send` and, later, the app."""

from __future__ import annotations

import time
from collections.abc import Callable

from messagehub_tui import campaigns
from messagehub_tui.control import ACTIVE
from messagehub_tui.models import Campaign

# Seconds between two looks at the campaign's status: a waiter returns at most this long after
# the campaign settles, whatever the progress interval is.
POLL = 0.1

Progress = Callable[[dict, float], None]


def _status_of(campaign_id: int) -> str:
    """The campaign's status alone: one indexed read, cheap enough to do ten times a second."""
    return Campaign.select(Campaign.status).where(Campaign.id == campaign_id).scalar()


def follow(campaign_id: int, on_progress: Progress | None = None, every: float = 5.0,
           poll: float = POLL) -> dict:
    """Wait until the campaign leaves queued/running and return its final `campaigns.status`.

    `on_progress(state, rate)` is called every `every` seconds and once more at the end, with the
    rate of sent messages per second since the previous call.
    """
    state = campaigns.status(campaign_id)
    last_sent, last_time = state["counts"]["sent"], time.monotonic()
    next_report = last_time + every
    settled = state["status"] not in ACTIVE
    while not settled:
        time.sleep(poll)
        settled = _status_of(campaign_id) not in ACTIVE
        now = time.monotonic()
        if not settled and now < next_report:
            continue
        state = campaigns.status(campaign_id)
        settled = state["status"] not in ACTIVE
        if on_progress is not None:
            rate = (state["counts"]["sent"] - last_sent) / max(now - last_time, 1e-6)
            on_progress(state, rate)
        last_sent, last_time, next_report = state["counts"]["sent"], now, now + every
    return state
