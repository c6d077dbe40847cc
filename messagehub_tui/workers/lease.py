"""A runner's right to send: heartbeats, the declared-dead check before each hand-off, the
hand-off journal around each send, stopping for a full disk with the reason kept, and leaving
the campaign to its other runners when the server refuses this one's connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from peewee import DatabaseError

from messagehub_tui.channels.base import NOT_SENT, Outgoing, SendResult, Transport
from messagehub_tui.errors import is_disk_full
from messagehub_tui.models import StopRequest
from messagehub_tui.workers import journal, queue, registry
from messagehub_tui.workers.queue import Claimed

WATCH_EVERY = 0.2
log = logging.getLogger("messagehub.runner")


class Lease:
    """Held by one runner process for its campaign; `stop` is the runner's stop event."""

    def __init__(self, campaign_id: int, runner_id: int, stop: asyncio.Event,
                 event: Callable[[str, str], None]):
        self.campaign_id, self.runner_id = campaign_id, runner_id
        self.stop, self.event = stop, event
        self.journal: journal.Journal | None = None
        self.trusted_until = time.time() + registry.TRUST_FOR
        self.declared_dead = False

    def stop_for_disk(self, exc: BaseException) -> None:
        """The disk is full: stop sending and pause with the reason, or leave it for recovery."""
        reason = f"disk full: {exc}"
        self.stop.set()
        try:
            registry.request_stop(self.campaign_id, StopRequest.PAUSE, reason)
        except DatabaseError:
            log.error("campaign %s: %s; the database cannot be told", self.campaign_id, reason)
        self.keep_reason(reason)

    def pause(self, reason: str) -> None:
        """Pause the campaign (every runner of it stops), with `reason` as its last error."""
        self.event(f"paused: {reason}", "error")
        registry.request_stop(self.campaign_id, StopRequest.PAUSE, reason)
        self.stop.set()

    async def refused(self, reason: str, patience: float) -> None:
        """Every connection of this runner was refused as over the server's cap. Another runner
        that holds claims or has sent has its connections: leave the campaign to it (what this
        one holds goes back to pending, as at any stop). Others that have not got so far may
        still be opening theirs (`patience`: the channel's timeout, and a little) or be refused
        too: wait to see which. No one sending: pause, with the reason, unless the others have
        sent all there was meanwhile."""
        deadline = time.monotonic() + patience
        while not self.stop.is_set():
            others = registry.others_of(self.campaign_id, self.runner_id)
            if others == registry.Others.NONE and queue.open_work(self.campaign_id) == (0, 0):
                self._leave(reason, "the other runners sent the rest")
                return
            if others == registry.Others.SENDING:
                self._leave(reason, "the other runners go on")
                return
            if others == registry.Others.NONE or time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), WATCH_EVERY)
        if not self.stop.is_set():
            self.pause(reason)

    def _leave(self, reason: str, why: str) -> None:
        self.event(f"runner {self.runner_id} left: the relay refused more connections "
                   f"({reason}); {why}", "warning")
        self.stop.set()

    def keep_reason(self, reason: str) -> None:
        """Leave the reason in the journal, where recovery finds it if the database cannot."""
        if self.journal is not None:
            try:
                self.journal.stopped(reason)
            except OSError:
                log.error("campaign %s: cannot keep the reason %r", self.campaign_id, reason)

    def _failed(self, exc: DatabaseError, doing: str) -> None:
        if is_disk_full(exc):
            self.stop_for_disk(exc)
        else:
            log.warning("campaign %s: %s failed: %s", self.campaign_id, doing, exc)

    def declare_dead(self) -> None:
        """The supervisor recovered this runner's claims: stop, and touch the campaign no more."""
        if not self.declared_dead:
            self.declared_dead = True
            self.stop.set()
            self.event(f"runner {self.runner_id} was declared dead by the supervisor; "
                       "stopping without sending", "error")

    def beat(self) -> bool:
        """Heartbeat now; False when it failed or this runner was declared dead (then stop)."""
        started = time.time()
        try:
            alive = registry.heartbeat(self.runner_id)
        except DatabaseError as exc:
            self._failed(exc, "heartbeat")
            return False
        if alive:
            self.trusted_until = started + registry.TRUST_FOR
        else:
            self.declare_dead()
        return alive

    def alive(self) -> bool:
        """Cheap unless the last heartbeat is old (a frozen or suspended process just woke up,
        wall-clock time having moved on): then ask the database before sending."""
        return time.time() < self.trusted_until or self.beat()

    async def watch(self) -> None:
        """Poll the control flag every WATCH_EVERY seconds and heartbeat every few seconds."""
        last_beat = time.monotonic()
        while not self.stop.is_set():
            try:
                if registry.stop_requested(self.campaign_id):
                    self.stop.set()
                    return
            except DatabaseError as exc:
                self._failed(exc, "reading the control flag")
            if time.monotonic() - last_beat >= registry.HEARTBEAT_EVERY:
                last_beat = time.monotonic()
                self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), WATCH_EVERY)

    async def hand_off(self, channel: Transport, lane: int, item: Claimed,
                       message: Outgoing, then: Outgoing | None = None) -> SendResult:
        """Journal the hand-off, send, journal the answer: what recovery trusts after a kill.

        `then`, the lane's next message, may have its envelope sent along (never its content):
        it is handed off, and journaled, when its own turn comes."""
        kept = self.journal
        if kept is None or not self.alive():  # no journal, no hand-off
            return NOT_SENT
        try:
            kept.handed(item.id, item.attempts)
        except OSError as exc:
            self.stop_for_disk(exc)
            return NOT_SENT
        result = await channel.send(lane, message, then)
        try:
            kept.outcome(item.id, item.attempts, result.outcome)
        except OSError as exc:
            self.stop_for_disk(exc)
        return result
