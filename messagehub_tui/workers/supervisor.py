"""Starts runner processes in their own session, and recovers campaigns whose runners died."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

from messagehub_tui.config import Settings
from messagehub_tui.events import campaign_log_path, record_event
from messagehub_tui.models import Campaign, CampaignStatus, Runner, db, utcnow
from messagehub_tui.workers import queue, registry


def start_runners(settings: Settings, campaign_id: int, processes: int | None = None
                  ) -> list[subprocess.Popen]:
    """Start the campaign's runner processes: fresh interpreters, detached from this terminal.

    A new session keeps them sending when the SSH connection that started them drops, and a
    fresh interpreter (spawn semantics) shares nothing with the caller but the database.
    """
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    count = processes or settings.delivery.processes
    command = [sys.executable, "-m", "messagehub_tui.workers.runner", "--home",
               str(settings.home), str(campaign_id)]
    started = []
    with campaign_log_path(settings.logs_dir, campaign_id).open("ab") as log:
        for _ in range(count):
            started.append(subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, close_fds=True, cwd=str(settings.home),
                env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    return started


def _orphaned(now):
    """Campaigns that say they are sending while no runner row is left to send them."""
    return Campaign.select().where(
        ((Campaign.status == CampaignStatus.RUNNING)
         | ((Campaign.status == CampaignStatus.QUEUED)
            & (Campaign.updated_at < now - timedelta(seconds=registry.STALE_AFTER))))
        & ~Campaign.id.in_(Runner.select(Runner.campaign)))


def recover(settings: Settings) -> list[int]:
    """Turn dead runners' in-flight deliveries into unknown and their campaigns into interrupted."""
    dead = registry.dead_runners()
    interrupted = []
    now = utcnow()
    # Reads first: most starts find nothing to recover and then need no write lock at all.
    if not dead and not _orphaned(now).exists():
        return interrupted
    with db.atomic():
        queue.mark_unknown([runner.id for runner in dead])
        if dead:
            Runner.delete().where(Runner.id.in_([runner.id for runner in dead])).execute()
        for campaign in _orphaned(now):
            Campaign.update(status=CampaignStatus.INTERRUPTED, control="", updated_at=now) \
                .where(Campaign.id == campaign.id).execute()
            interrupted.append(campaign.id)
    for campaign_id in interrupted:
        lost = sum(1 for runner in dead if runner.campaign_id == campaign_id)
        record_event(settings.logs_dir, campaign_id,
                     f"interrupted: its runner stopped without finishing "
                     f"({lost} runner(s) found dead); resume to continue", "error")
    return interrupted


def wait_until(campaign_id: int, done, timeout: float, poll: float = 0.1) -> Campaign:
    """Poll the campaign until done(campaign) is true or the timeout passes; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        campaign = Campaign.get_by_id(campaign_id)
        if done(campaign) or time.monotonic() >= deadline:
            return campaign
        time.sleep(poll)
