"""The headless daemon: scheduler plus supervisor for one home, for tmux or systemd."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

from messagehub_tui import control
from messagehub_tui.bounces.poller import start_polling
from messagehub_tui.config import Settings
from messagehub_tui.events import record_event
from messagehub_tui.follow import wait_until
from messagehub_tui.models import ACTIVE, Campaign, CampaignStatus, db
from messagehub_tui.sms.poller import start_status_poll
from messagehub_tui.workers.daemonlock import acquire_lock
from messagehub_tui.workers.registry import PAUSED_FOR_DAEMON_STOP
from messagehub_tui.workers.scheduler import CampaignScheduler
from messagehub_tui.workers.supervisor import leave

STOP_TIMEOUT = 30.0
log = logging.getLogger("messagehub.daemon")


def log_path(settings: Settings) -> Path:
    return settings.logs_dir / "daemon.log"


def configure_logging(settings: Settings) -> None:
    """Log to <home>/logs/daemon.log, rotated at 1 MB, five files kept."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(log_path(settings), maxBytes=1_000_000, backupCount=5,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("messagehub")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def resume_left_over(settings: Settings, runners: bool) -> None:
    """Resume what a previous daemon paused on its way out."""
    for campaign in Campaign.select().where((Campaign.status == CampaignStatus.PAUSED)
                                            & (Campaign.auto_resume == 1)):
        log.info("campaign %s: %s", campaign.id,
                 control.resume(settings, campaign.id, start=runners).message)


def pause_running(settings: Settings) -> None:
    """Pause every queued or running campaign, marked to resume at the next start, and wait."""
    active = list(Campaign.select().where(Campaign.status.in_(list(ACTIVE))))
    for campaign in active:
        control.pause(settings, campaign.id)
        Campaign.update(auto_resume=1).where(Campaign.id == campaign.id).execute()
        # the monitor and the log said only "pause requested": by whom, and what comes next
        record_event(settings.logs_dir, campaign.id, PAUSED_FOR_DAEMON_STOP)
    for campaign in active:
        final = wait_until(campaign.id, lambda c: c.status not in ACTIVE, STOP_TIMEOUT)
        log.info("campaign %s is %s", campaign.id, final.status)


def stop_sending(settings: Settings) -> None:
    """On a database that several hosts share, this host's runners finish what is in flight
    and leave the campaigns to the other hosts (the last one out pauses it, to resume at a
    daemon's next start); on SQLite, pause the running campaigns, to resume at the next start."""
    if settings.database.url:
        log.info("stopping: this host's runners leave their campaigns to the other hosts")
        asked = leave(settings, STOP_TIMEOUT)
        log.info("%d runner(s) of this host left", asked)
    else:
        log.info("stopping: pausing running campaigns")
        pause_running(settings)


def run_daemon(settings: Settings, runners: bool = True) -> int:
    """Run until SIGTERM, SIGINT or SIGHUP, then stop sending cleanly and return 0.

    With `runners` False (--no-runners) this host only schedules and supervises: the campaigns
    it launches or resumes get their runners from the other hosts' daemons. With several hosts
    on PostgreSQL, only the holder of the scheduler lock (see leader.py) fires schedules.
    """
    lock = acquire_lock(settings)
    configure_logging(settings)
    stopping = threading.Event()
    # SIGHUP too: closing the tmux window (or killing its server) hangs up the daemon's
    # terminal, which otherwise killed it mid-batch, without pausing or a line in its log
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, frame: stopping.set())
    log.info("daemon started for %s on host %s (pid %s)%s", settings.home, settings.host,
             os.getpid(), "" if runners else ", without runners")
    # the one line a user sees: everything else goes to the log
    print(f"messagehub-tui daemon for {settings.home} on host {settings.host} "
          f"(pid {os.getpid()}): logging to {log_path(settings)}; stop it with Ctrl-C or "
          "SIGTERM", flush=True)
    scheduler = CampaignScheduler(settings, supervise=True, runners=runners, join=runners)
    # aiohttp only in the daemon
    from messagehub_tui.web.serving import start_endpoint, unserved_warning
    endpoint = start_endpoint(settings)  # the daemon serves [web] listen, if set
    if endpoint is not None and settings.web.listen_warning:
        print(f"messagehub-tui: {settings.web.listen_warning}", file=sys.stderr, flush=True)
    unserved = unserved_warning(endpoint) if endpoint is not None else None
    if unserved:  # a port in use (another home's daemon, say): not only a line in the log
        print(f"messagehub-tui: {unserved}", file=sys.stderr, flush=True)
    try:
        resume_left_over(settings, runners)
        scheduler.start()
        # one reader of the mailbox and of Twilio across hosts: the one that fires schedules
        start_polling(settings, stopping, scheduler.leader.held)
        start_status_poll(settings, stopping, scheduler.leader.held)
        while not stopping.wait(1.0):
            pass
        scheduler.shutdown()
        stop_sending(settings)
    finally:
        if endpoint is not None:
            endpoint.stop()
        db.close()
        log.info("daemon stopped")
        lock.seek(0)
        lock.truncate()  # no pid: daemon_pid() sees no daemon
        lock.close()
    return 0
