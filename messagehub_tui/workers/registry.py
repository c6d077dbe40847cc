"""Runner rows: registration, heartbeats, stop requests and the last runner's settling of a
campaign."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from enum import Enum

from messagehub_tui.database import concurrent_transaction, on_postgres
from messagehub_tui.models import Campaign, CampaignStatus, Runner, StopRequest, db, utcnow
from messagehub_tui.workers import queue

STALE_ENV = "MESSAGEHUB_STALE_AFTER"


def _stale_after() -> float:
    """Seconds without a heartbeat after which a runner is declared dead (tests shorten it)."""
    try:
        value = float(os.environ.get(STALE_ENV, "30"))
    except ValueError:
        value = 30.0
    return value if 1.0 <= value <= 3600.0 else 30.0


STALE_AFTER = _stale_after()
HEARTBEAT_EVERY = min(2.0, STALE_AFTER / 10)
# A runner trusts itself alive for this long after its last heartbeat went through; past it, it
# checks its row before handing over another message (a frozen process wakes up past it).
TRUST_FOR = STALE_AFTER / 2
RUNNER_MODULE = b"messagehub_tui.workers.runner"
# A runner started with this option waits for GO on its standard input before it starts
# (supervisor.open_gate); the end of its input without GO means the launch did not happen.
GATE_OPTION = "--wait-for-go"
GO = b"go\n"
# What a stopping daemon sends its host's runners when other hosts may go on with the campaign:
# finish what is in flight and leave, without pausing the campaign for every host.
LEAVE_SIGNAL = signal.SIGUSR1
# Why a campaign is paused when its daemon stopped, in the campaign's events: on SQLite the
# stopping daemon pauses it and says so; on PostgreSQL the last of its runners to leave does.
PAUSED_FOR_DAEMON_STOP = "the daemon is stopping: paused, to resume at its next start"


@dataclass(frozen=True)
class Settled:
    """What the last runner out set its campaign to, and why, when the campaign's events should
    say it."""

    status: CampaignStatus
    why: str | None = None


def register(campaign_id: int, host: str) -> int | None:
    """Join a queued or running campaign as a runner on `host`; None when it should not run
    now."""
    now = utcnow()
    with db.atomic():
        joined = db.execute_sql(
            "UPDATE campaign SET status = ?, started_at = COALESCE(started_at, ?), "
            "updated_at = ? WHERE id = ? AND status IN (?, ?) AND control NOT IN (?, ?)",
            (CampaignStatus.RUNNING.value, now, now, campaign_id, CampaignStatus.QUEUED.value,
             CampaignStatus.RUNNING.value, StopRequest.PAUSE.value, StopRequest.CANCEL.value)
        ).rowcount
        if not joined:
            return None
        return Runner.create(campaign=campaign_id, pid=os.getpid(), host=host,
                             heartbeat_at=time.time()).id


def heartbeat(runner_id: int) -> bool:
    """Say this runner is alive; False when the supervisor has already declared it dead."""
    with concurrent_transaction():
        return db.execute_sql("UPDATE runner SET heartbeat_at = ? WHERE id = ?",
                              (time.time(), runner_id)).rowcount == 1


def stop_request_of(campaign_id: int) -> StopRequest:
    """What the campaign's runners are asked to do; a deleted campaign reads as cancelled."""
    row = db.execute_sql("SELECT control FROM campaign WHERE id = ?", (campaign_id,)).fetchone()
    return StopRequest(row[0]) if row else StopRequest.CANCEL


def stop_requested(campaign_id: int) -> bool:
    """Whether the campaign's runners are asked to stop (pause or cancel)."""
    return stop_request_of(campaign_id) != StopRequest.NONE


def request_stop(campaign_id: int, request: StopRequest, error: str | None = None) -> None:
    """Ask every runner of the campaign to stop; a cancel is never downgraded to a pause."""
    cancel = StopRequest.CANCEL.value
    with db.atomic():
        db.execute_sql(
            "UPDATE campaign SET control = CASE WHEN control = ? THEN ? ELSE ? END, "
            "last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
            (cancel, cancel, request.value, error, utcnow(), campaign_id))


def live_runners(campaign_id: int) -> int:
    """How many runner rows a campaign has."""
    return Runner.select().where(Runner.campaign == campaign_id).count()


class Others(Enum):
    """What a campaign's other runners are doing, as one runner refused a connection sees it."""

    NONE = "none"  # no other runner: this one was the campaign's only chance to send
    STARTING = "starting"  # others, none of which has claimed or sent yet (they may be refused)
    SENDING = "sending"  # another runner holds claims or has sent: it has its connections


def others_of(campaign_id: int, runner_id: int) -> Others:
    """What the campaign's runners other than `runner_id` are doing. A runner claims only once
    its channel is open, so one that holds claims or has sent got the connections it needed."""
    others = "SELECT id FROM runner WHERE campaign_id = ? AND id <> ?"
    row = db.execute_sql(
        f"SELECT EXISTS({others}), EXISTS(SELECT 1 FROM delivery WHERE campaign_id = ? "
        f"AND status IN (?, ?) AND runner_id IN ({others}))",
        (campaign_id, runner_id, campaign_id, queue.SENDING, queue.SENT, campaign_id,
         runner_id)).fetchone()
    return Others.SENDING if row[1] else Others.STARTING if row[0] else Others.NONE


def other_hosts_run(campaign_id: int, host: str) -> bool:
    """Whether runners of hosts other than `host` are on the campaign now."""
    return Runner.select().where((Runner.campaign == campaign_id) & (Runner.host != host)).exists()


def settle(runner_id: int, campaign_id: int, leaving: bool = False) -> Settled | None:
    """Remove this runner; the last one out sets the campaign's state. Returns it, or None.

    A runner `leaving` with its host's daemon that turns out to be the last one pauses the
    campaign to be resumed at a daemon's next start, as a single host's stopping daemon does.
    """
    now = utcnow()
    with db.atomic():
        if not Runner.delete().where(Runner.id == runner_id).execute():
            return None  # declared dead meanwhile: recovery settled it, the campaign is not ours
        if live_runners(campaign_id):
            return None
        campaign = Campaign.get_by_id(campaign_id)
        if campaign.status != CampaignStatus.RUNNING:
            return None
        pending, sending = queue.open_work(campaign_id)
        finished = None
        if campaign.stop_request == StopRequest.CANCEL:
            queue.cancel_pending(campaign_id)
            status, finished = CampaignStatus.CANCELLED, now
        elif campaign.stop_request != StopRequest.PAUSE and pending == 0 and sending == 0:
            status, finished = CampaignStatus.COMPLETED, now
        else:
            status = CampaignStatus.PAUSED
        resume_later = leaving and status == CampaignStatus.PAUSED \
            and campaign.stop_request == StopRequest.NONE
        Campaign.update(status=status, stop_request=StopRequest.NONE, finished_at=finished,
                        updated_at=now, auto_resume=1 if resume_later else campaign.auto_resume) \
            .where(Campaign.id == campaign_id).execute()
        return Settled(status, PAUSED_FOR_DAEMON_STOP if resume_later else None)


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live runner process of this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # kill(0) also finds a zombie, and a pid the kernel gave to another process once the runner
    # died: the pid is our runner only if it is not a zombie and still runs the runner module.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return RUNNER_MODULE in handle.read()
    except OSError:
        return True


def dead_runners(host: str, now: float | None = None) -> list[Runner]:
    """Runner rows whose process is gone from `host` (this one) or whose heartbeat went stale.

    Only this host's pids mean anything here: another host's runner is judged by its heartbeat
    alone (its pid may be alive here as some other process, or dead here while it sends there).
    Call it inside the write transaction that settles them, so a heartbeat cannot slip between.
    """
    now = time.time() if now is None else now
    # PostgreSQL: lock the rows, so a claim in flight (it share-locks its runner) commits first
    # and is settled with the rest, and no claim starts for a runner being declared dead.
    query = Runner.select().for_update() if on_postgres() else Runner.select()
    return [runner for runner in query if _dead(runner, host, now)]


def _dead(runner: Runner, host: str, now: float) -> bool:
    """The liveness rule: a stale heartbeat, or a pid of this host that no longer runs a runner."""
    return now - runner.heartbeat_at > STALE_AFTER \
        or (runner.host == host and not process_alive(runner.pid))


def runners_gone(campaign_id: int, host: str) -> bool:
    """Whether none of the campaign's runner rows is alive by the rule recovery applies, as
    seen from `host`: a read, for the read-only commands that must not run recovery."""
    now = time.time()
    runners = Runner.select().where(Runner.campaign == campaign_id)
    return all(_dead(runner, host, now) for runner in runners)
