"""Waiting on a campaign: one polling loop (`wait_until`) for `send`, pause/resume/cancel --wait,
the app's follow worker and the daemon's shutdown, and `follow` with progress on top of it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from messagehub_tui import campaigns
from messagehub_tui.config import Settings
from messagehub_tui.models import ACTIVE, Campaign, CampaignStatus
from messagehub_tui.progress import RateMeter
from messagehub_tui.state import CampaignState
from messagehub_tui.workers.supervisor import interrupt_unstarted, recover

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


Runners = Sequence[subprocess.Popen[bytes]]


# Seconds between two recoveries while this process's runners are gone and the campaign is still
# running (on other hosts' runners, say): each one reads, and on PostgreSQL locks, the runner rows.
RECOVER_EVERY = 1.0


@dataclass
class RunnerWatch:
    """The runners this process started for a campaign, watched while it is followed: once all
    have exited and the campaign is still active, nobody here will settle it. Queued (none of
    them got as far as registering): interrupted now, with why; running: `recover` settles dead
    runners' rows (at most every RECOVER_EVERY). Either way a wait on it ends."""
    settings: Settings
    runners: Runners
    next_recovery: float = 0.0

    def check(self, campaign: Campaign) -> None:
        if campaign.status not in ACTIVE or not self.runners \
                or any(runner.poll() is None for runner in self.runners):
            return
        if campaign.status == CampaignStatus.QUEUED \
                and interrupt_unstarted(self.settings, campaign.id, self.runners):
            return
        now = time.monotonic()
        if now >= self.next_recovery:
            self.next_recovery = now + RECOVER_EVERY
            recover(self.settings)


def follow(campaign_id: int, on_progress: Progress | None = None, every: float = 5.0,
           poll: float = POLL, settings: Settings | None = None,
           runners: Runners = ()) -> CampaignState:
    """Wait until the campaign leaves queued/running and return its final `campaigns.status`.

    `on_progress(state, rate)` is called every `every` seconds and once more at the end, with the
    send rate in messages per second as the monitor measures it (`progress.RateMeter`). With
    `settings`, the `runners` this process started are watched (`RunnerWatch`).
    """
    watch = RunnerWatch(settings, runners) if settings is not None else None
    state = campaigns.status(campaign_id)
    meter = RateMeter()
    now = time.monotonic()
    meter.update(state.counts.sent, now)
    next_report = now + every

    def report(campaign: Campaign) -> bool:
        nonlocal state, next_report
        settled = campaign.status not in ACTIVE
        if not settled and watch is not None:
            watch.check(campaign)
        now = time.monotonic()
        if settled or now >= next_report:
            state = campaigns.state_of(campaign)
            rate = meter.update(state.counts.sent, now)
            if on_progress is not None:
                on_progress(state, rate)
            next_report = now + every
        return settled

    if state.status in ACTIVE:
        time.sleep(poll)
        wait_until(campaign_id, report, poll=poll)
    return state


def follow_runners(settings: Settings, campaign_id: int, runners: Runners,
                   cancelled: Callable[[], bool], poll: float = POLL) -> Campaign:
    """Wait until the campaign leaves queued/running, or `cancelled()`; returns it as last read.
    The `runners` this process started are watched (`RunnerWatch`)."""
    watch = RunnerWatch(settings, runners)

    def stopped(campaign: Campaign) -> bool:
        watch.check(campaign)
        return campaign.status not in ACTIVE or cancelled()

    return wait_until(campaign_id, stopped, poll=poll)
