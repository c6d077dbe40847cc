"""Waiting on a campaign: one polling loop (`wait_until`) for `send`, pause/resume/cancel --wait,
the app's follow worker and the daemon's shutdown, and `follow` with progress on top of it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence

from messagehub_tui import campaigns
from messagehub_tui.config import Settings
from messagehub_tui.models import ACTIVE, Campaign
from messagehub_tui.state import CampaignState
from messagehub_tui.workers.supervisor import recover

# Seconds between two looks at the campaign's status: a waiter returns at most this long after
# the campaign settles, whatever the progress interval is.
POLL = 0.1

Progress = Callable[[CampaignState, float], None]


def wait_until(campaign_id: int, done: Callable[[Campaign], bool], timeout: float | None = None,
               poll: float = POLL) -> Campaign:
    """Read the campaign every `poll` seconds until `done(campaign)` is true or `timeout` seconds
    have passed (never, if None); returns the campaign as last read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        campaign = Campaign.get_by_id(campaign_id)
        if done(campaign) or (deadline is not None and time.monotonic() >= deadline):
            return campaign
        time.sleep(poll)


def follow(campaign_id: int, on_progress: Progress | None = None, every: float = 5.0,
           poll: float = POLL) -> CampaignState:
    """Wait until the campaign leaves queued/running and return its final `campaigns.status`.

    `on_progress(state, rate)` is called every `every` seconds and once more at the end, with the
    rate of sent messages per second since the previous call.
    """
    state = campaigns.status(campaign_id)
    last_sent, last_time = state.counts.sent, time.monotonic()
    next_report = last_time + every

    def report(campaign: Campaign) -> bool:
        nonlocal state, last_sent, last_time, next_report
        settled = campaign.status not in ACTIVE
        now = time.monotonic()
        if settled or now >= next_report:
            state = campaigns.state_of(campaign)
            if on_progress is not None:
                rate = (state.counts.sent - last_sent) / max(now - last_time, 1e-6)
                on_progress(state, rate)
            last_sent, last_time, next_report = state.counts.sent, now, now + every
        return settled

    if state.status in ACTIVE:
        time.sleep(poll)
        wait_until(campaign_id, report, poll=poll)
    return state


def follow_runners(settings: Settings, campaign_id: int,
                   runners: Sequence[subprocess.Popen[bytes]], cancelled: Callable[[], bool],
                   poll: float = POLL) -> Campaign:
    """Wait until the campaign leaves queued/running, or `cancelled()`; returns it as last read.

    `runners` are the ones this process started: once all have exited and the campaign is still
    active, nobody will settle it, so `recover` marks it interrupted (and the wait ends)."""
    def stopped(campaign: Campaign) -> bool:
        if campaign.status in ACTIVE and runners \
                and all(runner.poll() is not None for runner in runners):
            recover(settings)
        return campaign.status not in ACTIVE or cancelled()

    return wait_until(campaign_id, stopped, poll=poll)
