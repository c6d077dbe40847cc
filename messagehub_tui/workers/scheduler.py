"""APScheduler jobs mirroring the database's scheduled campaigns; firing is an atomic claim."""

from __future__ import annotations

import logging
from datetime import timezone

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from messagehub_tui import control
from messagehub_tui.config import Settings
from messagehub_tui.models import Campaign, CampaignStatus, db, utcnow
from messagehub_tui.workers.supervisor import recover

SYNC_EVERY = 2.0
log = logging.getLogger("messagehub.scheduler")


class CampaignScheduler:
    """One date job per scheduled campaign, re-synced from the database every few seconds."""

    def __init__(self, settings: Settings, supervise: bool = False):
        self.settings = settings
        self.supervise = supervise
        self.scheduler = BackgroundScheduler(timezone=timezone.utc)
        self.known: dict[int, object] = {}
        self.launched: list[int] = []

    def start(self) -> None:
        """Load the schedule now and keep it in step with the database."""
        self.sync()
        self.scheduler.add_job(self.sync, "interval", seconds=SYNC_EVERY, id="sync",
                               max_instances=1, coalesce=True)
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        db.close()

    def fire(self, campaign_id: int) -> None:
        """Launch a due campaign once, or mark it missed if it is later than the grace period."""
        try:
            campaign = Campaign.get_or_none(Campaign.id == campaign_id)
            if campaign is None or campaign.status != CampaignStatus.SCHEDULED:
                return
            late = (utcnow() - campaign.scheduled_at).total_seconds()
            if late < -1:
                return
            if late > self.settings.schedule.misfire_grace:
                control.mark_missed(self.settings, campaign_id, campaign.scheduled_at)
                return
            result = control.launch(self.settings, campaign_id, scheduled_only=True)
            log.info("campaign %s: %s", campaign_id, result.message)
            if result.started:
                self.launched.append(campaign_id)
        except Exception:
            log.exception("firing campaign %s failed", campaign_id)
        finally:
            db.close()

    def sync(self) -> None:
        """Add, move or drop jobs to match the scheduled campaigns; fire the ones already due."""
        try:
            if self.supervise:
                self._supervise()
            wanted = {c.id: c.scheduled_at for c in Campaign.select(Campaign.id, Campaign.scheduled_at)
                      .where(Campaign.status == CampaignStatus.SCHEDULED)}
            for campaign_id in set(self.known) - set(wanted):
                self._remove(campaign_id)
                log.info("campaign %s unscheduled", campaign_id)
            now = utcnow()
            for campaign_id, at in wanted.items():
                if at <= now:
                    self.fire(campaign_id)
                elif self.known.get(campaign_id) != at:
                    self._remove(campaign_id)
                    self.scheduler.add_job(self.fire, "date", args=[campaign_id],
                                           run_date=at.replace(tzinfo=timezone.utc),
                                           id=f"campaign-{campaign_id}", misfire_grace_time=None)
                    self.known[campaign_id] = at
                    log.info("campaign %s scheduled for %sZ", campaign_id, at.isoformat())
        except Exception:
            log.exception("schedule sync failed")
        finally:
            db.close()

    def _remove(self, campaign_id: int) -> None:
        self.known.pop(campaign_id, None)
        try:
            self.scheduler.remove_job(f"campaign-{campaign_id}")
        except JobLookupError:
            pass

    def _supervise(self) -> None:
        """Recover dead runners and, when configured, resume what they left interrupted."""
        for campaign_id in recover(self.settings):
            log.warning("campaign %s interrupted: its runner died", campaign_id)
        if not self.settings.schedule.resume_interrupted:
            return
        for campaign in Campaign.select().where(Campaign.status == CampaignStatus.INTERRUPTED):
            log.info("campaign %s: %s", campaign.id,
                     control.resume(self.settings, campaign.id).message)
