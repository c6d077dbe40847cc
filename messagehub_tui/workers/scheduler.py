"""APScheduler jobs mirroring the database's scheduled campaigns; firing is an atomic claim."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from messagehub_tui import control
from messagehub_tui.config import Settings
from messagehub_tui.events import record_event
from messagehub_tui.models import Campaign, CampaignStatus, InterruptCause, db, utcnow
from messagehub_tui.workers.leader import Leadership, for_settings
from messagehub_tui.workers.supervisor import (
    interrupt_unstarted,
    recover,
    start_runners,
    to_join,
)

SYNC_EVERY = 2.0
log = logging.getLogger("messagehub.scheduler")


class CampaignScheduler:
    """One date job per scheduled campaign, re-synced from the database every few seconds.

    `supervise`: recover dead runners and resume what they left interrupted. `runners`: what
    this process launches or resumes gets runners here (False for a daemon with --no-runners,
    which only schedules and supervises). `join`: also run this host's runners for every
    running campaign, wherever it was launched (the daemon). Only the holder of `leader` (by
    default the database's: one process of all hosts on PostgreSQL) fires schedules; launch is
    an atomic claim anyway, so a race between two leaders fires once.
    """

    def __init__(self, settings: Settings, supervise: bool = False, runners: bool = True,
                 join: bool = False, leader: Leadership | None = None) -> None:
        self.settings = settings
        # ([schedule] restart_delays) a campaign whose runners die is restarted after each in
        # turn, then paused
        self.restart_delays = settings.schedule.restart_delays
        # A daemon joins a running campaign at once, and again (its runners gone while other
        # hosts keep the campaign going: killed, say) no sooner than the last restart delay.
        self.rejoin_after = self.restart_delays[-1]
        self.supervise = supervise
        self.runners = runners
        self.join = join
        self.leader = leader or for_settings(settings)
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.known: dict[int, datetime] = {}  # campaign id -> the time its job is set for
        self.launched: list[int] = []
        self.deaths: dict[int, int] = {}
        self.restart_at: dict[int, float] = {}
        self.joined_at: dict[int, float] = {}
        # the runner processes this process started, per campaign, until they all exit: one
        # that could not start is noticed at the next sync, not after STALE_AFTER
        self.started: dict[int, list[subprocess.Popen[bytes]]] = {}
        # APScheduler's shutdown holds its job-store lock while it waits for running jobs, so a
        # sync adding or removing a job then waited for that lock for ever (a daemon hung on
        # SIGTERM, the app on quit): jobs change under this lock, and not once closing began
        self._jobs_lock = threading.Lock()
        self._closing = False

    def start(self) -> None:
        """Load the schedule now and keep it in step with the database."""
        self.sync()
        self.scheduler.add_job(self.sync, "interval", seconds=SYNC_EVERY, id="sync",
                               max_instances=1, coalesce=True)
        self.scheduler.start()

    def shutdown(self) -> None:
        with self._jobs_lock:
            self._closing = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.leader.close()
        db.close()

    def fire(self, campaign_id: int) -> None:
        """Launch a due campaign once, or mark it missed if it is later than the grace period."""
        try:
            campaign = Campaign.get_or_none(Campaign.id == campaign_id)
            if campaign is None or campaign.status != CampaignStatus.SCHEDULED \
                    or campaign.scheduled_at is None or not self.leader.held():
                return
            late = (utcnow() - campaign.scheduled_at).total_seconds()
            if late < -1:
                return
            if late > self.settings.schedule.misfire_grace:
                control.mark_missed(self.settings, campaign_id, campaign.scheduled_at)
                return
            result = control.launch(self.settings, campaign_id, scheduled_only=True,
                                    start=self.runners)
            log.info("campaign %s: %s", campaign_id, result.message)
            if result.started:
                self.launched.append(campaign_id)
                self._started(campaign_id, result.runners)
                self._say_no_runners(campaign_id)
        except Exception:
            log.exception("firing campaign %s failed", campaign_id)
        finally:
            db.close()

    def sync(self) -> None:
        """Add, move or drop jobs to match the scheduled campaigns; fire the ones already due."""
        try:
            if self.supervise:
                self._supervise()
            if not self.leader.held():
                for campaign_id in list(self.known):
                    self._remove(campaign_id)
                return
            wanted = {c.id: c.scheduled_at
                      for c in Campaign.select(Campaign.id, Campaign.scheduled_at)
                      .where(Campaign.status == CampaignStatus.SCHEDULED)
                      if c.scheduled_at is not None}
            for campaign_id in set(self.known) - set(wanted):
                self._remove(campaign_id)
                log.info("campaign %s unscheduled", campaign_id)
            now = utcnow()
            for campaign_id, at in wanted.items():
                if at <= now:
                    self.fire(campaign_id)
                elif self.known.get(campaign_id) != at:
                    self._remove(campaign_id)
                    self._add(campaign_id, at)
        except Exception:
            log.exception("schedule sync failed")
        finally:
            db.close()

    def _add(self, campaign_id: int, at: datetime) -> None:
        with self._jobs_lock:
            if self._closing:
                return
            self.scheduler.add_job(self.fire, "date", args=[campaign_id],
                                   run_date=at.replace(tzinfo=UTC),
                                   id=f"campaign-{campaign_id}", misfire_grace_time=None)
        self.known[campaign_id] = at
        log.info("campaign %s scheduled for %sZ", campaign_id, at.isoformat())

    def _remove(self, campaign_id: int) -> None:
        self.known.pop(campaign_id, None)
        with self._jobs_lock:
            if self._closing:
                return
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"campaign-{campaign_id}")

    def _supervise(self) -> None:
        """Recover dead runners and, when configured, resume what they left interrupted, backing
        off while a campaign's runners keep dying and pausing it when they die once too often."""
        for campaign_id in self._unstarted() + recover(self.settings):
            deaths = self.deaths[campaign_id] = self.deaths.get(campaign_id, 0) + 1
            then = ""
            if deaths <= len(self.restart_delays):
                delay = self.restart_delays[deaths - 1]
                self.restart_at[campaign_id] = time.monotonic() + delay
                if self.settings.schedule.resume_interrupted:
                    then = f"; restarting it in {delay:g} s"
            log.warning("campaign %s interrupted: its runner died (%d in a row)%s", campaign_id,
                        deaths, then)
        self._forget_settled()
        if self.settings.schedule.resume_interrupted:
            self._resume_interrupted()
        if self.join:
            self._join()

    def _join(self) -> None:
        """Start this host's runners for the running campaigns that have none here."""
        now = time.monotonic()
        for campaign_id in to_join(self.settings):
            if now - self.joined_at.get(campaign_id, -self.rejoin_after) >= self.rejoin_after:
                self.joined_at[campaign_id] = now
                self._started(campaign_id, start_runners(self.settings, campaign_id))
                log.info("campaign %s: started this host's runners", campaign_id)

    def _resume_interrupted(self) -> None:
        """Resume interrupted campaigns after their back-off; pause one that died too often."""
        for campaign in Campaign.select().where(Campaign.status == CampaignStatus.INTERRUPTED):
            deaths = self.deaths.get(campaign.id, 0)
            if deaths > len(self.restart_delays):
                reason = self._why_given_up(campaign, deaths)
                if control.give_up(self.settings, campaign.id, reason):
                    log.error("campaign %s paused: %s", campaign.id, reason)
            elif time.monotonic() >= self.restart_at.get(campaign.id, 0.0):
                result = control.resume(self.settings, campaign.id, start=self.runners)
                self._started(campaign.id, result.runners)
                if result.started:
                    self._say_no_runners(campaign.id)
                log.info("campaign %s: %s", campaign.id, result.message)

    def _say_no_runners(self, campaign_id: int) -> None:
        """What a daemon with --no-runners launched waits for, in the campaign's events."""
        if not self.runners:
            record_event(self.settings.logs_dir, campaign_id,
                         "this daemon runs with --no-runners: the campaign waits for a runner "
                         "of another host (a daemon without --no-runners)")

    def _why_given_up(self, campaign: Campaign, deaths: int) -> str:
        if campaign.interrupt_cause == InterruptCause.NOT_PICKED_UP and not self.runners:
            return (f"no runner took it up {deaths} times in a row: this daemon runs with "
                    "--no-runners and no other host runs runners for this home; start a daemon "
                    "without --no-runners, or `resume` it from a host that sends")
        last = f" (the last time: {campaign.last_error})" if campaign.last_error else ""
        return (f"its runners died {deaths} times in a row, so the daemon stopped restarting "
                f"it{last}; see logs/campaign-{campaign.id}.log, then resume it")

    def _started(self, campaign_id: int, runners: list[subprocess.Popen[bytes]]) -> None:
        if runners:
            self.started.setdefault(campaign_id, []).extend(runners)

    def _unstarted(self) -> list[int]:
        """Campaigns left queued by runners of ours that all exited before registering, now
        interrupted with why (the exited ones are reaped: no zombies)."""
        found = []
        for campaign_id, runners in list(self.started.items()):
            if all(runner.poll() is not None for runner in runners):
                del self.started[campaign_id]
                if reason := interrupt_unstarted(self.settings, campaign_id, runners):
                    log.warning("campaign %s interrupted: %s", campaign_id, reason)
                    found.append(campaign_id)
        return found

    def _forget_settled(self) -> None:
        """A campaign that finished, was paused or cancelled starts again from zero deaths."""
        if not self.deaths:
            return
        live = {CampaignStatus.QUEUED, CampaignStatus.RUNNING, CampaignStatus.INTERRUPTED}
        for campaign in (Campaign.select(Campaign.id, Campaign.status)
                         .where(Campaign.id.in_(list(self.deaths)))):
            if campaign.status not in live:
                self.deaths.pop(campaign.id, None)
                self.restart_at.pop(campaign.id, None)
