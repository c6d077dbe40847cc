"""Campaign state changes shared by the CLI, the TUI and the scheduler: launch, pause, resume,
cancel, retry, schedule."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import Expression

from messagehub_tui import audience, campaigns
from messagehub_tui.config import Settings
from messagehub_tui.errors import InvalidState, MessagehubError
from messagehub_tui.events import record_event
from messagehub_tui.message_id import store_home_token
from messagehub_tui.models import (
    ACTIVE,
    FINISHED,
    PRE_LAUNCH,
    RESUMABLE,
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    StopRequest,
    db,
    utcnow,
)
from messagehub_tui.progress import duration
from messagehub_tui.timefmt import local_text
from messagehub_tui.workers import queue, registry
from messagehub_tui.workers.supervisor import open_gate, start_runners


@dataclass
class LaunchResult:
    """What a launch or resume did: whether runners were started, and a sentence saying so."""

    started: bool
    message: str
    runners: list[subprocess.Popen] = field(default_factory=list)


def _claim_status(campaign_id: int, from_status: str, to_status: CampaignStatus,
                  guard: Expression | None = None, **values: Any) -> bool:
    """Atomic compare-and-set of a campaign's status (and `guard`, an extra condition); False when
    another process got there first."""
    values.setdefault("updated_at", utcnow())
    condition = (Campaign.id == campaign_id) & (Campaign.status == from_status)
    if guard is not None:
        condition &= guard
    return bool(Campaign.update(status=to_status.value, **values).where(condition).execute())


def _instead_of_launch(campaign_id: int, status: CampaignStatus) -> str:
    """What to do with a campaign that ran, when asked to launch it (only drafts, scheduled and
    missed ones launch)."""
    if status in RESUMABLE:
        return "use resume"
    counts = campaigns.delivery_counts(campaign_id)
    if status == CampaignStatus.COMPLETED and (counts.failed or counts.unknown):
        return (f"`retry {campaign_id}` sends its failed deliveries again (`--unknown`: the "
                "unknown ones)")
    return "it does not send again: create a new campaign"


def launch(settings: Settings, campaign_id: int, scheduled_only: bool = False,
           start: bool = True) -> LaunchResult:
    """Materialise the recipients once, move the campaign to queued and start its runners."""
    campaign = campaigns.get(campaign_id)
    if campaign.status in ACTIVE:
        return LaunchResult(False, f"campaign {campaign_id} is already {campaign.status}")
    if scheduled_only and campaign.status != CampaignStatus.SCHEDULED:
        return LaunchResult(False, f"campaign {campaign_id} is {campaign.status}, not scheduled")
    due = campaign.scheduled_at
    if scheduled_only and due is not None and due > utcnow() + timedelta(seconds=1):
        return LaunchResult(False, f"campaign {campaign_id} is not due yet")
    if campaign.status not in PRE_LAUNCH:
        raise InvalidState(f"campaign {campaign_id} is {campaign.status}; "
                           + _instead_of_launch(campaign_id, CampaignStatus(campaign.status)))
    # started before the campaign is validated and its deliveries materialised, to load their
    # code meanwhile; they wait for the go, which comes once the launch is committed (and never
    # if it is not)
    runners = start_runners(settings, campaign_id, gated=True) if start else []
    launched = False
    try:
        campaigns.validate(settings, campaign.channel, campaign.contact_list, campaign.body,
                           campaign.subject, campaign.html, campaign.sender, campaign.rate)
        with db.atomic():
            now = utcnow()
            same_time = (Campaign.scheduled_at == campaign.scheduled_at) if scheduled_only \
                else None
            if not _claim_status(campaign_id, campaign.status, CampaignStatus.QUEUED, same_time,
                                 stop_request=StopRequest.NONE, started_at=None,
                                 finished_at=None, last_error=None):
                return LaunchResult(False, f"campaign {campaign_id} was launched or changed by "
                                    "another process")
            sql, params = audience.materialise_sql(campaign, now)
            db.execute_sql(sql, params)
            store_home_token()
        launched = True
        counts = campaigns.counts(Campaign.get_by_id(campaign_id))
        record_event(settings.logs_dir, campaign_id,
                     f"launched: {counts.pending} to send, {counts.skipped} suppressed")
    finally:
        open_gate(runners, go=launched)
    return LaunchResult(True, f"campaign {campaign_id} launched: {counts.pending} to send", runners)


def resume(settings: Settings, campaign_id: int, start: bool = True) -> LaunchResult:
    """Continue a paused or interrupted campaign with new runners (started here unless `start`
    is False: then the daemons of the hosts that run runners join it)."""
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if campaign.status in ACTIVE:
            if campaign.stop_request == StopRequest.PAUSE:
                Campaign.update(stop_request=StopRequest.NONE) \
                    .where(Campaign.id == campaign_id).execute()
            return LaunchResult(False, f"campaign {campaign_id} is already {campaign.status}")
        if campaign.status not in RESUMABLE:
            raise InvalidState(f"campaign {campaign_id} is {campaign.status}; only a paused or "
                               "interrupted campaign can be resumed")
        if not _claim_status(campaign_id, campaign.status, CampaignStatus.QUEUED,
                             stop_request=StopRequest.NONE, last_error=None, auto_resume=0,
                             finished_at=None):
            return LaunchResult(False, f"campaign {campaign_id} was resumed by another process")
    record_event(settings.logs_dir, campaign_id, "resumed")
    return LaunchResult(True, f"campaign {campaign_id} resumed",
                        start_runners(settings, campaign_id) if start else [])


def pause(settings: Settings, campaign_id: int) -> str:
    """Ask the runners to stop after their in-flight sends; a queued campaign pauses at once."""
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if campaign.status == CampaignStatus.PAUSED:
            return f"campaign {campaign_id} is already paused"
        if campaign.status not in ACTIVE:
            hint = (f"; clearing its schedule (`schedule {campaign_id} --clear`) takes it back "
                    "to a draft") if campaign.status == CampaignStatus.SCHEDULED else ""
            raise InvalidState(f"campaign {campaign_id} is {campaign.status}; only a queued or "
                               f"running campaign can be paused{hint}")
        if campaign.status == CampaignStatus.QUEUED and not registry.live_runners(campaign_id):
            _claim_status(campaign_id, CampaignStatus.QUEUED, CampaignStatus.PAUSED)
        else:
            registry.request_stop(campaign_id, StopRequest.PAUSE)
    record_event(settings.logs_dir, campaign_id, "pause requested")
    return f"campaign {campaign_id} pausing"


def cancel(settings: Settings, campaign_id: int) -> str:
    """Stop for good: every unsent delivery becomes cancelled."""
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if campaign.status in FINISHED:
            raise InvalidState(f"campaign {campaign_id} is already {campaign.status}")
        if campaign.status in ACTIVE and registry.live_runners(campaign_id):
            registry.request_stop(campaign_id, StopRequest.CANCEL)
        else:
            queue.cancel_pending(campaign_id)
            _claim_status(campaign_id, campaign.status, CampaignStatus.CANCELLED,
                          stop_request=StopRequest.NONE,
                          finished_at=utcnow())
    record_event(settings.logs_dir, campaign_id, "cancel requested")
    return f"campaign {campaign_id} cancelling"


def retry(settings: Settings, campaign_id: int, failed: bool = True, unknown: bool = False
          ) -> LaunchResult:
    """Put failed and/or unknown deliveries back to pending and send them again."""
    states = [state.value for state, wanted in ((DeliveryStatus.FAILED, failed),
                                                 (DeliveryStatus.UNKNOWN, unknown)) if wanted]
    if not states:
        raise MessagehubError("say which deliveries to retry: --failed and/or --unknown")
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if campaign.status in PRE_LAUNCH or campaign.status == CampaignStatus.CANCELLED:
            raise InvalidState(f"campaign {campaign_id} is {campaign.status}; nothing to retry")
        count, skipped = queue.requeue(campaign_id, campaign.channel, states)
        if count and campaign.status not in ACTIVE:
            _claim_status(campaign_id, campaign.status, CampaignStatus.QUEUED,
                          stop_request=StopRequest.NONE, finished_at=None, last_error=None)
    kept_out = f", {skipped} skipped (suppressed since)" if skipped else ""
    if skipped:
        record_event(settings.logs_dir, campaign_id,
                     f"retry skipped {skipped} {'/'.join(states)} deliveries: suppressed since")
    if not count:
        message = (f"campaign {campaign_id}: 0 deliveries back to pending{kept_out}" if skipped
                   else f"campaign {campaign_id} has no {' or '.join(states)} deliveries")
        return LaunchResult(False, message)
    record_event(settings.logs_dir, campaign_id, f"retrying {count} {'/'.join(states)} deliveries")
    runners = [] if campaign.status in ACTIVE else start_runners(settings, campaign_id)
    return LaunchResult(True, f"campaign {campaign_id}: {count} deliveries back to pending"
                        f"{kept_out}", runners)


def unschedulable(campaign_id: int, status: CampaignStatus) -> str | None:
    """Why a campaign in `status` cannot be scheduled, or None: the app asks before a time."""
    if status in PRE_LAUNCH:
        return None
    return (f"campaign {campaign_id} is {status}; only a draft, missed or scheduled campaign "
            "can be scheduled")


def schedule(settings: Settings, campaign_id: int, at: datetime) -> Campaign:
    """Set a draft, missed or scheduled campaign to launch at `at` (naive UTC, in the future)."""
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if why := unschedulable(campaign_id, CampaignStatus(campaign.status)):
            raise InvalidState(why)
        _claim_status(campaign_id, campaign.status, CampaignStatus.SCHEDULED, scheduled_at=at)
    record_event(settings.logs_dir, campaign_id, campaigns.scheduled_event(at))
    return campaigns.get(campaign_id)


def clear_schedule(settings: Settings, campaign_id: int) -> Campaign:
    """Take a scheduled or missed campaign back to draft."""
    with db.atomic():
        campaign = campaigns.get(campaign_id)
        if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.MISSED):
            raise InvalidState(f"campaign {campaign_id} is {campaign.status}, not scheduled")
        _claim_status(campaign_id, campaign.status, CampaignStatus.DRAFT, scheduled_at=None)
    record_event(settings.logs_dir, campaign_id, "schedule cleared")
    return campaigns.get(campaign_id)


def mark_missed(settings: Settings, campaign_id: int, scheduled_at: datetime) -> bool:
    """A scheduled campaign whose time passed beyond the grace period becomes missed (once)."""
    with db.atomic():
        missed = _claim_status(campaign_id, CampaignStatus.SCHEDULED, CampaignStatus.MISSED,
                               Campaign.scheduled_at == scheduled_at)
    if missed:
        record_event(settings.logs_dir, campaign_id,
                     f"missed: its time {local_text(scheduled_at)} passed more than "
                     f"{duration(settings.schedule.misfire_grace)} ago while nothing was running; "
                     "launch it by hand", "error")
    return missed


def give_up(settings: Settings, campaign_id: int, reason: str) -> bool:
    """An interrupted campaign that will not be restarted again becomes paused, with the reason
    as its last error; False if it was no longer interrupted."""
    with db.atomic():
        paused = _claim_status(campaign_id, CampaignStatus.INTERRUPTED, CampaignStatus.PAUSED,
                               last_error=reason, auto_resume=0)
    if paused:
        record_event(settings.logs_dir, campaign_id, f"paused: {reason}", "error")
    return paused
