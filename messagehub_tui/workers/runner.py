"""The campaign runner process: claim a batch, render, send over parallel lanes, record; repeat."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator

from peewee import DatabaseError

from messagehub_tui import feedback, render_limits
from messagehub_tui.bounces import verp
from messagehub_tui.campaign_compose import effective_sender, make_composer
from messagehub_tui.channels import make_transport
from messagehub_tui.channels.base import (
    NOT_SENT,
    ChannelBusy,
    ChannelStopped,
    Outcome,
    Outgoing,
    SendResult,
    Transport,
)
from messagehub_tui.compose import RenderError
from messagehub_tui.config import Settings
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.errors import is_connection_lost, is_disk_full
from messagehub_tui.events import log_line, record_event
from messagehub_tui.homefs import private_umask
from messagehub_tui.models import Campaign, Channel, StopRequest
from messagehub_tui.workers import journal, queue, registry
from messagehub_tui.workers.claims import Claims
from messagehub_tui.workers.lease import Lease
from messagehub_tui.workers.ratelimit import RateLimiter, campaign_rate, sender_key

PROBLEMS = frozenset({Outcome.FAILED, Outcome.UNKNOWN, Outcome.RETRY})
FLUSH_EVERY = 0.5
# The lanes are fed across claims: the next batch is claimed as soon as the last item of this
# one is taken, so no lane waits for the slowest at a batch's end and each goes on sending its
# next envelope with its body (over a relay 40 ms away, a drain costs every lane about two round
# trips). They drain, so that the journal can be forgotten, once it holds this much (~40,000
# messages), or when nothing is due.
DRAIN_AFTER = 1 << 20
log = logging.getLogger("messagehub.runner")


class CampaignRunner:
    """One runner of one campaign; several may share a campaign, each claiming its own batches."""

    def __init__(self, settings: Settings, campaign_id: int):
        self.settings = settings
        self.campaign_id = campaign_id
        self.stop = asyncio.Event()
        self.streak = 0
        self.unrecorded: list = []
        self.flushed_at = time.monotonic()
        # set by run() once the runner is registered, before anything reads them
        self.runner_id: int
        self.lease: Lease
        self.claims: Claims | None = None  # once the channel is open
        self.done = 0  # messages this runner has an outcome for, to measure its pace
        self.leaving = False
        self.database_lost = False
        self.ran_dry = False  # the feed's last claim found nothing due
        self.lanes_open = 0  # the lanes of this round not closed by a refused connection

    def _event(self, message: str, level: str = "info", shown: bool = True) -> None:
        """An event the monitor shows and the campaign's log keeps; `shown` False: the log only."""
        try:
            if shown:
                record_event(self.settings.logs_dir, self.campaign_id, message, level)
            else:
                log_line(self.settings.logs_dir, self.campaign_id, message, level)
        except (DatabaseError, OSError) as exc:
            log.error("campaign %s: %s (not recorded: %s)", self.campaign_id, message, exc)

    def _halt(self, error: str | None = None) -> None:
        """Pause the campaign (every runner of it stops), keeping `error` as its last error."""
        registry.request_stop(self.campaign_id, StopRequest.PAUSE, error)
        self.stop.set()

    def _lost_database(self, exc: BaseException) -> None:
        """PostgreSQL ended the connection: nothing more can be recorded, so stop, in one line.
        The journal keeps what was sent (and the reason); recovery records it, once, and leaves
        the campaign interrupted, which the daemon (or the app) resumes."""
        self.stop.set()
        if self.database_lost:
            return
        self.database_lost = True
        reason = f"lost its database connection: {' '.join(str(exc).split())}"  # libpq: 2 lines
        self.lease.keep_reason(reason)
        log.error("runner %s of campaign %s %s; it stops, what it sent is kept in its journal "
                  "and recorded when the campaign is resumed (`resume %s`; the daemon and the "
                  "app resume it on their own once the database answers)",
                  self.runner_id, self.campaign_id, reason, self.campaign_id)

    def _render(self, item: queue.Claimed) -> Outgoing:
        if self.campaign.channel == Channel.EMAIL:
            message_id = f"{self.campaign_id}.{item.id}.{item.attempts}"
            email = self.composer.email(item.variables, item.address, message_id,
                                        delivery_id=item.id)
            return Outgoing(item.id, item.address, email.data,
                            verp.envelope_sender(self.settings, item.id), email.dotted)
        return Outgoing(item.id, item.address, self.composer.sms_text(item.variables))

    def _flush(self) -> None:
        """Record what has been sent so far, so progress shows and a crash loses little.

        On a full disk the results stay in memory (and their marks in the journal): a later
        flush or recovery records them, once.
        """
        if self.unrecorded:
            results, self.unrecorded = self.unrecorded, []
            try:
                queue.record(self.campaign_id, self.runner_id, results, self.settings.delivery,
                             self.campaign.channel)
            except DatabaseError as exc:
                self.unrecorded = results + self.unrecorded
                if not is_disk_full(exc):
                    raise
                self.lease.stop_for_disk(exc)
                return
            self._note_errors(results)
        self.flushed_at = time.monotonic()

    def _note_errors(self, results: list) -> None:
        """One event per distinct failure reason in this flush (at most three), with an example;
        a retry given up is named as the failure it is recorded as."""
        results = [(item, queue.as_recorded(item, result, self.settings.delivery))
                   for item, result in results if result.outcome in PROBLEMS]
        reasons = Counter((r.outcome, r.reason) for _, r in results if r.outcome in PROBLEMS)
        for (outcome, reason), number in reasons.most_common(3):
            example = next(item.address for item, r in results if r.reason == reason)
            self._event(f"{number} {outcome}: {reason} (e.g. {example})",
                        "warning" if outcome == Outcome.RETRY else "error")

    def _message(self, item: queue.Claimed) -> Outgoing | SendResult:
        """The item's message, or the result that stands for it when it cannot be rendered."""
        try:
            return self._render(item)
        except render_limits.RenderInterrupted:  # a signal, pause or cancel came mid-render
            if not self.stop.is_set():  # a runner declared dead stops without pausing
                self._halt()
            return NOT_SENT
        except RenderError as exc:
            return SendResult(Outcome.FAILED, reason=str(exc))

    async def _lane(self, lane: int, items: Iterator[queue.Claimed]) -> None:
        # A transport that looks ahead gets each message with the lane's next one, rendered
        # already (SMTP sends its envelope along with this body); not under a rate limit, where
        # the next message waits for its slot.
        ahead = self.transport.looks_ahead and self.limiter.rate <= 0
        item = next(items, None)
        message: Outgoing | SendResult | None = None  # the item's, when rendered ahead
        while item is not None:
            upcoming = next(items, None) if ahead else None
            upcoming_message: Outgoing | SendResult | None = None
            # no rate limit: no wait to ask for (a coroutine a message)
            if self.stop.is_set() or self.limiter.rate > 0 and \
                    not await self.limiter.wait(self.stop):
                result = NOT_SENT
            else:
                if message is None:
                    message = self._message(item)
                if isinstance(message, SendResult):
                    result = message
                else:
                    if upcoming is not None and not self.stop.is_set():
                        upcoming_message = self._message(upcoming)
                    then = upcoming_message if isinstance(upcoming_message, Outgoing) else None
                    result = await self.lease.hand_off(self.transport, lane, item, message, then)
            self.unrecorded.append((item, result))
            self.done += 1
            if time.monotonic() - self.flushed_at >= FLUSH_EVERY:
                self._flush()
            outcome = result.outcome
            if outcome == Outcome.SENT:  # first: the usual case costs one test
                self.streak = 0
            elif outcome == Outcome.STOP:
                if not self.stop.is_set():
                    self.lease.pause(result.reason)
            elif outcome == Outcome.BUSY:
                if upcoming is not None:  # taken, never handed: back to pending
                    self.unrecorded.append((upcoming, NOT_SENT))
                await self._lane_refused(lane, result.reason)
                return
            else:
                self._note_failure(result)
            item, message = (upcoming, upcoming_message) if ahead else (next(items, None), None)

    async def _lane_refused(self, lane: int, reason: str) -> None:
        """The server refused this lane's connection as one too many: the lane closes for this
        round (the next round tries again) and the others take its messages; the last one to
        close leaves it to the campaign's other runners, or pauses it."""
        self.lanes_open -= 1
        if self.lanes_open:
            self._event(f"runner {self.runner_id}: connection {lane + 1} refused ({reason}); "
                        f"it sends on {self.lanes_open} other(s)", shown=False)
        else:
            await self.lease.refused(reason, self.timeout + 1)

    def _note_failure(self, result: SendResult) -> None:
        """Track consecutive failures (a message sent ends a run, in _lane); a run of
        failure_streak pauses the campaign."""
        self.streak += 1
        if self.streak >= self.settings.delivery.failure_streak and not self.stop.is_set():
            reason = f"the last {self.streak} attempts all failed; last error: {result.reason}"
            self.lease.pause(reason)

    async def _idle(self) -> bool:
        """Nothing due: False when the campaign has no pending work left, else wait for the next."""
        pending, _ = queue.open_work(self.campaign_id)
        if pending == 0:
            return False
        due = queue.next_due(self.campaign_id) or 0
        delay = min(max(due - time.time(), 0.05), 1.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), delay)
        return True

    async def _run_lanes(self, items: Iterator[queue.Claimed]) -> None:
        """Send what `items` yields over every lane. If one lane raises, the others finish the
        message in hand (bounded by the channel timeout), are cancelled and awaited, then it
        re-raises: nothing is left sending when the channel closes."""
        self.lanes_open = self.transport.lanes
        lanes = [asyncio.create_task(self._lane(lane, items))
                 for lane in range(self.transport.lanes)]
        try:
            done, running = await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
            failure = next((task.exception() for task in done
                            if not task.cancelled() and task.exception()), None)
            if failure is not None and running:
                self.stop.set()
                await asyncio.wait(running, timeout=2 * self.timeout + 1)
        finally:
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
        if failure is not None:
            raise failure

    def _claim(self, claims: Claims) -> list[queue.Claimed] | None:
        """The next batch (Claims.take); None when this runner was declared dead."""
        try:
            return claims.take()
        except queue.RunnerGone:
            self.lease.declare_dead()
            return None

    def _feed(self, claims: Claims, batch: list[queue.Claimed]) -> Iterator[queue.Claimed]:
        """The batch's items, then the next batch's, claimed (between a flush and the feedback
        check, as between drained batches) when a lane asks past the last one while the others
        still send: until nothing is due, the runner stops, or the journal is to be forgotten.
        Lanes only take items between awaits, so this never runs twice at once."""
        while batch:
            started, done = time.monotonic(), self.done
            yield from batch
            journal_kept = self.lease.journal
            if self.stop.is_set() or journal_kept is None or journal_kept.written >= DRAIN_AFTER:
                return
            self._flush()
            self._check_feedback()
            if self.stop.is_set():
                return
            if self.done > done:  # else the lanes took it all at once: no pace to go by
                claims.limit = claims.size(self.done - done, time.monotonic() - started)
            batch = self._claim(claims) or []
            self.ran_dry = not batch  # (None: declared dead, and stopping)

    async def _loop(self) -> None:
        claims = self.claims = Claims(self.campaign_id, self.runner_id,
                                      self.settings.delivery.batch_size, self.rate,
                                      self.transport.lanes)
        while not self.stop.is_set():
            # a feed that ran dry has just claimed in vain: no second claim before idling
            batch = [] if self.ran_dry else self._claim(claims)
            self.ran_dry = False
            if batch is None:
                return
            if not batch:
                if not await self._idle():
                    return
                continue
            await self._run_lanes(self._feed(claims, batch))
            self._flush()
            if not self.unrecorded and self.lease.journal is not None:
                self.lease.journal.reset()
            self._check_feedback()

    async def _open(self, transport: Transport) -> bool:
        """Open the channel; False when the server refused this runner's first connection as
        over its cap (then it has left the campaign to its other runners, or paused it)."""
        try:
            await transport.open()
        except ChannelBusy as exc:
            await self.lease.refused(str(exc), self.timeout + 1)
            return False
        return True

    def _check_feedback(self) -> None:
        """Pause when bounces or complaints passed their limit. Checked here, between batches,
        rather than where feedback is recorded: the runner has the settings and reads its counts
        anyway, a campaign that is not sending needs no pause, and a report recorded by any
        process (mailbox poll, webhook) is seen within a batch."""
        reason = feedback.over_limit(self.campaign_id, self.settings)
        if reason and not self.stop.is_set():
            self.lease.pause(reason)

    def _on_signal(self, name: str) -> None:
        self._event(f"runner {self.runner_id} got {name}; pausing")
        self._halt()

    def _on_leave(self) -> None:
        """The host's daemon stops: finish what is in flight and leave the campaign to the
        runners of the other hosts (the last one out pauses it, to resume later)."""
        # (the row may not exist yet: the handler is set before registering)
        self._event(f"runner pid {os.getpid()} on {self.settings.host} is leaving with its "
                    "host's daemon; other hosts go on")
        self.leaving = True
        self.stop.set()

    def _prepare(self) -> None:
        self.campaign = Campaign.get_by_id(self.campaign_id)
        sender = effective_sender(self.campaign, self.settings)
        self.rate = campaign_rate(self.settings, self.campaign)
        self.limiter = RateLimiter(sender_key(self.settings, self.campaign.channel, sender),
                                   self.rate)
        self.timeout = (self.settings.email.timeout if self.campaign.channel == Channel.EMAIL
                        else self.settings.sms.timeout)
        self.composer = make_composer(self.campaign, self.settings)
        self.transport = make_transport(self.settings, self.campaign.channel, self.campaign_id,
                                        sender)

    async def run(self) -> str | None:
        """Run until done, paused or cancelled; returns the campaign's state if this runner set
        it."""
        loop = asyncio.get_running_loop()
        # before the row exists: a stopping daemon signals the runners it finds registered
        loop.add_signal_handler(registry.LEAVE_SIGNAL, self._on_leave)
        runner_id = registry.register(self.campaign_id, self.settings.host)
        if runner_id is None:
            return None
        self.runner_id = runner_id
        self.lease = Lease(self.campaign_id, self.runner_id, self.stop, self._event)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        # the loop cannot run these while a template renders; a render is interrupted instead
        render_limits.stop_rendering_when(
            lambda: self.stop.is_set() or registry.stop_requested(self.campaign_id),
            (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, registry.LEAVE_SIGNAL))
        opened: Transport | None = None
        abandoning: asyncio.Task[None] | None = None
        watcher = asyncio.create_task(self.lease.watch())
        try:
            self.lease.journal = journal.Journal(
                journal.path_for(self.settings.home, self.runner_id))
            self._prepare()
            opened = self.transport
            abandoning = asyncio.create_task(self._abandon_when_stopped(opened))
            self._event(f"runner {self.runner_id} started (pid {os.getpid()})")
            if await self._open(opened):
                await self._loop()
        except ChannelStopped as exc:
            self.lease.pause(str(exc))
        except Exception as exc:
            if is_disk_full(exc):
                self.lease.stop_for_disk(exc)
            elif is_connection_lost(exc):
                self._lost_database(exc)
            else:
                log.exception("runner %s of campaign %s crashed", self.runner_id, self.campaign_id)
                self.lease.pause(f"runner crashed: {type(exc).__name__}: {exc}")
        finally:
            self.stop.set()
            await watcher
            if abandoning is not None:
                await abandoning
            if self.claims is not None and self.claims.count and not self.database_lost:
                self._report_claims(self.claims)
            if opened is not None:
                try:
                    await opened.close()
                except Exception:
                    log.exception("closing the channel of campaign %s failed", self.campaign_id)
            status = self._settle()
        if status:
            self._event(f"campaign {status}")
        return status

    def _report_claims(self, claims: Claims) -> None:
        """How long runners waited on each other for their claims. The monitor shows it where it
        tells something (slow claims, or runners of several hosts to compare); one host's quick
        claims, the usual case, go to the campaign's log only."""
        try:
            telling = claims.slow() or registry.other_hosts_run(self.campaign_id,
                                                                self.settings.host)
        except DatabaseError:  # a full disk, say: _event says what it could not record
            telling = True
        self._event(claims.summary(self.settings.host), shown=telling)

    async def _abandon_when_stopped(self, transport: Transport) -> None:
        """On a stop (pause, cancel, a signal, ...) the channel drops the connections still
        being set up, at open or for a lane's first message or a reconnect: they have sent
        nothing, so a stop need not wait out a server slow to greet (up to [email] timeout) the
        way an in-flight message is awaited. The sends that waited for them return NOT_SENT."""
        await self.stop.wait()
        transport.abandon()

    def _settle(self) -> str | None:
        """Record the rest, settle this runner's claims from its journal, and leave.

        When the database cannot take it (disk full), the runner row and journal stay and
        recovery finishes the job once there is room again.
        """
        try:
            self._flush()
            if self.unrecorded:
                return None
            kept = self.lease.journal
            queue.settle_claims(self.runner_id, journal.read(kept.path) if kept else None,
                                "the runner stopped while sending")
            settled = registry.settle(self.runner_id, self.campaign_id, self.leaving)
        except DatabaseError as exc:
            if is_connection_lost(exc):
                self._lost_database(exc)
                return None
            if not is_disk_full(exc):
                raise
            self.lease.keep_reason(f"disk full: {exc}")
            return None
        if kept is not None:
            kept.close()
            journal.remove(kept.path)
        if settled is not None and settled.why:  # the same event as SQLite's stopping daemon's
            self._event(settled.why)
        return settled.status if settled else None


def main(argv: list[str] | None = None) -> int:
    """`python -m messagehub_tui.workers.runner --home DIR ID`: run one runner to its end."""
    parser = argparse.ArgumentParser(description="run one campaign runner")
    parser.add_argument("--home", required=True)
    parser.add_argument("campaign_id", type=int)
    parser.add_argument(registry.GATE_OPTION, action="store_true", dest="gated",
                        help="wait for the launch that started it to say go on standard input")
    args = parser.parse_args(argv)
    private_umask()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.home)
    # Everything imported so far lives as long as the process: out of the collector's way, the
    # collections while it opens the database, compiles and connects no longer walk it all
    # (they were more than half of a runner's instructions between its imports and its first
    # message).
    gc.freeze()
    if args.gated and sys.stdin.buffer.read(len(registry.GO)) != registry.GO:
        return 0  # the launch did not happen (or its process died): nothing to do
    open_db(settings.db_location)
    asyncio.run(CampaignRunner(settings, args.campaign_id).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
