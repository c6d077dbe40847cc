"""Starts runner processes in their own session, and recovers campaigns whose runners died."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from peewee import DatabaseError, ModelSelect

from messagehub_tui.config import Settings
from messagehub_tui.errors import is_disk_full
from messagehub_tui.events import campaign_log_path, record_event
from messagehub_tui.models import (
    Campaign,
    CampaignStatus,
    InterruptCause,
    Runner,
    StopRequest,
    db,
    utcnow,
)
from messagehub_tui.workers import journal, queue, registry
from messagehub_tui.workers.registry import GATE_OPTION, GO, RUNNER_MODULE

log = logging.getLogger("messagehub.supervisor")
JOIN_QUEUED_AFTER = 5.0
LOG_TAIL = 4096
# Why a queued campaign that no runner ever joined is interrupted (a daemon with --no-runners
# launched it, and no host's daemon sends for this database).
NOT_PICKED_UP = (f"no runner took it up within {registry.STALE_AFTER:g} s: no host runs runners "
                 "for this home (a daemon without --no-runners, `send` or `resume` does)")
LOG_LINE_MAX = 300


def start_runners(settings: Settings, campaign_id: int, processes: int | None = None,
                  gated: bool = False) -> list[subprocess.Popen]:
    """Start the campaign's runner processes: fresh interpreters, detached from this terminal.

    A new session keeps them sending when the SSH connection that started them drops, and a
    fresh interpreter (spawn semantics) shares nothing with the caller but the database.
    `gated` runners load their code and then wait until `open_gate` says go: a launch starts
    them before it validates the campaign and materialises its deliveries, so their start-up (a
    tenth of a second of imports) overlaps that work instead of following it.
    """
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    count = processes or settings.delivery.processes
    command = [sys.executable, "-m", RUNNER_MODULE.decode(), "--home", str(settings.home),
               str(campaign_id), *([GATE_OPTION] if gated else [])]
    started = []
    with campaign_log_path(settings.logs_dir, campaign_id).open("ab") as log:
        for _ in range(count):
            started.append(subprocess.Popen(
                command, stdin=subprocess.PIPE if gated else subprocess.DEVNULL, stdout=log,
                stderr=log, start_new_session=True, close_fds=True, cwd=str(settings.home),
                env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    return started


def open_gate(runners: Sequence[subprocess.Popen[bytes]], go: bool) -> None:
    """Let gated runners start (`go`), or have them exit without touching the campaign: a
    runner reads GO on its standard input, or its end (this process gone, or `go` False)."""
    for runner in runners:
        if runner.stdin is None:
            continue
        with contextlib.suppress(OSError):  # it ended already (a broken install, say)
            if go:
                runner.stdin.write(GO)
            runner.stdin.close()


def _last_log_line(settings: Settings, campaign_id: int) -> str:
    """The campaign log's last non-blank line (a runner that could not start writes its error
    there: its stdout and stderr go to that file), cut to a readable length."""
    try:
        with campaign_log_path(settings.logs_dir, campaign_id).open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - LOG_TAIL))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= LOG_LINE_MAX else last[:LOG_LINE_MAX - 1] + "…"


def _how_they_ended(runners: Sequence[subprocess.Popen[bytes]]) -> str:
    codes = sorted({runner.returncode for runner in runners})
    said = [f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            for code in codes]
    return " or ".join(said)


def interrupt_unstarted(settings: Settings, campaign_id: int,
                        runners: Sequence[subprocess.Popen[bytes]]) -> str | None:
    """Once every runner this process started for a queued campaign has exited without any
    runner registering for it (here or on another host), nobody will send it: mark it interrupted
    now, saying how they ended and the log's last line, instead of leaving it queued until
    recovery calls it orphaned after STALE_AFTER. A runner that could not even start (a broken
    install: "No module named messagehub_tui") otherwise leaves `send` waiting at 0%. Returns
    the reason if it marked the campaign, else None."""
    if not runners or any(runner.poll() is None for runner in runners) \
            or local_runner_pids(settings, campaign_id):
        return None
    where = campaign_log_path(settings.logs_dir, campaign_id)
    last = _last_log_line(settings, campaign_id)
    reason = (f"its runner {_how_they_ended(runners)} before sending"
              + (f": {last}" if last else "") + f" (see {where})")
    with db.atomic():
        marked = Campaign.update(
            status=CampaignStatus.INTERRUPTED, stop_request=StopRequest.NONE, updated_at=utcnow(),
            last_error=reason, interrupt_cause=InterruptCause.RUNNER_EXITED).where(
            (Campaign.id == campaign_id) & (Campaign.status == CampaignStatus.QUEUED)
            & ~Campaign.id.in_(Runner.select(Runner.campaign))
        ).execute()
    if marked:
        record_event(settings.logs_dir, campaign_id, f"interrupted: {reason}; resume to continue",
                     "error")
    return reason if marked else None


# A process in the middle of exec(2) shows an empty command line: the kernel swaps in the new
# program's memory, closing the descriptors whose end makes the spawner's Popen return, before it
# copies in the new arguments. Microseconds, but a runner just started looked absent (nearly one
# check in two straight after start_runners, on a busy machine): its command line is read again
# for up to this long.
EXEC_SETTLE = 0.05
# /proc/PID/stat flags of processes whose command line is empty for good: a kernel thread, and
# one exiting (a zombie too)
PF_EXITING, PF_KTHREAD = 0x4, 0x00200000


def _arguments(pid: str) -> list[bytes]:
    """A process's arguments, waiting out an exec under way; [] for one that ended or is
    ending, a kernel thread, or one whose command line stays empty."""
    deadline = None
    while True:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                arguments = handle.read()
            if arguments:
                return arguments.split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as handle:
                flags = int(handle.read().rsplit(b")", 1)[1].split()[6])
        except OSError:  # it ended while we looked
            return []
        now = time.monotonic()
        deadline = deadline if deadline is not None else now + EXEC_SETTLE
        if flags & (PF_EXITING | PF_KTHREAD) or now >= deadline:
            return []
        time.sleep(0.001)


def local_runner_pids(settings: Settings, campaign_id: int) -> list[int]:
    """This machine's live runner processes of this home for the campaign, starting or not.

    Read from /proc rather than from runner rows: a runner just started has no row yet, and
    hosts simulated on one machine (network namespaces) share the pids but not the home.
    """
    wanted = [b"-m", RUNNER_MODULE, b"--home", str(settings.home).encode(),
              str(campaign_id).encode()]
    return [int(entry.name) for entry in os.scandir("/proc")
            if entry.name.isdigit() and _arguments(entry.name)[1:6] == wanted]


def to_join(settings: Settings) -> list[int]:
    """Running campaigns (or queued for JOIN_QUEUED_AFTER) with work to do and no stop request
    that have no runner of this host, neither a process nor a row (a dead one's row is
    recovery's to settle first): with several hosts on one database, a campaign launched on one
    host runs on every host. A campaign just queued is left to its launcher a little while: a
    launch on this host starts its runners only after committing the claim."""
    queued_before = utcnow() - timedelta(seconds=JOIN_QUEUED_AFTER)
    active = [campaign.id for campaign in Campaign.select(Campaign.id).where(
        ((Campaign.status == CampaignStatus.RUNNING)
         | ((Campaign.status == CampaignStatus.QUEUED) & (Campaign.updated_at < queued_before)))
        & (Campaign.stop_request == StopRequest.NONE))]
    if not active:
        return []
    here = {row.campaign_id for row in Runner.select(Runner.campaign)
            .where((Runner.host == settings.host) & Runner.campaign.in_(active))}
    return [campaign_id for campaign_id in active
            if campaign_id not in here and queue.open_work(campaign_id)[0]
            and not local_runner_pids(settings, campaign_id)]


def leave(settings: Settings, timeout: float) -> int:
    """Ask this host's runners to finish what is in flight and leave their campaigns to the
    other hosts' runners; wait up to `timeout` seconds for them to go. Returns how many were
    asked."""
    pids = {runner.pid for runner in Runner.select(Runner.pid, Runner.host)
            .where(Runner.host == settings.host)}
    db.close()  # nothing of ours stays open while they settle
    asked = [pid for pid in pids if registry.process_alive(pid)]
    for pid in asked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, registry.LEAVE_SIGNAL)
    deadline = time.monotonic() + timeout
    while any(registry.process_alive(pid) for pid in asked) and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(asked)


def _orphaned(now: datetime) -> ModelSelect[Campaign]:
    """Running campaigns without a runner, and queued ones nobody picked up in time."""
    return Campaign.select().where(
        ((Campaign.status == CampaignStatus.RUNNING)
         | ((Campaign.status == CampaignStatus.QUEUED)
            & (Campaign.updated_at < now - timedelta(seconds=registry.STALE_AFTER))))
        & ~Campaign.id.in_(Runner.select(Runner.campaign)))


def _stray_journals(settings: Settings) -> set[int]:
    """Journals whose runner row is gone (it died after settling, before removing its file)."""
    found = journal.runner_ids(settings.home)
    if not found:
        return set()
    live = {row.id for row in Runner.select(Runner.id).where(Runner.id.in_(list(found)))}
    return found - live


def _note_one_lost(settings: Settings, runner: Runner, settled: dict[str, int]) -> None:
    """An event for a dead runner whose campaign goes on with its other runners: the campaign
    is not interrupted, so nothing else says one died, or why some deliveries are unknown."""
    unknown = settled.get(queue.UNKNOWN, 0)
    back = settled.get(queue.PENDING, 0) + settled.get("released", 0)
    try:
        record_event(settings.logs_dir, runner.campaign_id,
                     f"runner {runner.id} (pid {runner.pid}) stopped without finishing: "
                     f"{unknown} unknown, {back} back to pending; its other runners go on",
                     "error" if unknown else "warning")
    except (DatabaseError, OSError) as exc:
        if not is_disk_full(exc):
            raise
        log.warning("runner %s of campaign %s died (event not recorded: %s)", runner.id,
                    runner.campaign_id, exc)


def recover(settings: Settings) -> list[int]:
    """Settle dead runners' claims from their journals and mark their campaigns interrupted.

    A read first: with nothing dead, no write transaction is taken (every start calls this).
    """
    now = utcnow()
    if not registry.dead_runners(settings.host) and not _orphaned(now).exists() \
            and not _stray_journals(settings):
        return []
    interrupted, reasons, dead = [], {}, []
    settled: dict[int, dict[str, int]] = {}
    causes: dict[int, InterruptCause] = {}
    try:
        with db.atomic():
            dead = registry.dead_runners(settings.host)
            campaign_of = {runner.id: runner.campaign_id for runner in dead}
            stray = _stray_journals(settings)
            for runner_id in set(campaign_of) | stray:
                entries = journal.read(journal.path_for(settings.home, runner_id))
                settled[runner_id] = queue.settle_claims(runner_id, entries,
                                                         "the runner died while sending")
                if runner_id in stray and entries is not None:
                    # settled by another host while this one was down (see confirm_sent)
                    queue.confirm_sent(runner_id, entries)
                if entries is not None and entries.reason and runner_id in campaign_of:
                    reasons[campaign_of[runner_id]] = entries.reason
            if dead:
                Runner.delete().where(Runner.id.in_([runner.id for runner in dead])).execute()
            for campaign in _orphaned(now):
                causes[campaign.id] = InterruptCause.RUNNER_DIED
                if campaign.status == CampaignStatus.QUEUED \
                        and campaign.id not in campaign_of.values():
                    # no runner of it died: none came
                    causes[campaign.id], reasons[campaign.id] = (InterruptCause.NOT_PICKED_UP,
                                                                 NOT_PICKED_UP)
                Campaign.update(status=CampaignStatus.INTERRUPTED, stop_request=StopRequest.NONE,
                                updated_at=now, interrupt_cause=causes[campaign.id],
                                last_error=reasons.get(campaign.id, campaign.last_error)) \
                    .where(Campaign.id == campaign.id).execute()
                interrupted.append(campaign.id)
    except DatabaseError as exc:
        if not is_disk_full(exc):
            raise
        # One transaction: nothing changed. The next start recovers once there is room again.
        log.warning("recovery postponed: %s", exc)
        return []
    leftover = journal.runner_ids(settings.home)
    live = {row.id for row in Runner.select(Runner.id)}
    for runner_id in leftover - live:
        journal.remove(journal.path_for(settings.home, runner_id))
    for runner in dead:
        if runner.campaign_id not in interrupted:
            _note_one_lost(settings, runner, settled.get(runner.id, {}))
    for campaign_id in interrupted:
        lost = sum(1 for runner in dead if runner.campaign_id == campaign_id)
        why = f": {reasons[campaign_id]}" if campaign_id in reasons else ""
        said = (f"interrupted{why}" if causes[campaign_id] == InterruptCause.NOT_PICKED_UP else
                f"interrupted: its runner stopped without finishing{why} "
                f"({lost} runner(s) found dead)")
        try:
            record_event(settings.logs_dir, campaign_id, f"{said}; resume to continue", "error")
        except (DatabaseError, OSError) as exc:
            if not is_disk_full(exc):
                raise
            log.warning("campaign %s interrupted%s (event not recorded: %s)", campaign_id, why, exc)
    return interrupted
