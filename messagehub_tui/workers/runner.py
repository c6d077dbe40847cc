"""The campaign runner process: claim a batch, render, send over parallel lanes, record; repeat."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections import Counter
from email.utils import parseaddr

from messagehub_tui import render_limits
from messagehub_tui.campaigns import effective_sender, make_composer
from messagehub_tui.channels import make_channel
from messagehub_tui.channels.base import ChannelStopped, Outcome, Outgoing, SendResult
from messagehub_tui.compose import RenderError
from messagehub_tui.config import Settings, load_settings
from messagehub_tui.events import record_event
from messagehub_tui.models import Campaign, Channel, open_db
from messagehub_tui.workers import queue, registry
from messagehub_tui.workers.ratelimit import RateLimiter

NOT_SENT = SendResult(Outcome.STOP, reason="stopped before sending")
PROBLEMS = frozenset({Outcome.FAILED, Outcome.UNKNOWN, Outcome.RETRY})
WATCH_EVERY = 0.2
FLUSH_EVERY = 0.5
log = logging.getLogger("messagehub.runner")


def sender_key(settings: Settings, channel: str, sender: str) -> str:
    """Campaigns that share this key share one rate: same SMTP account, same From number."""
    if channel == Channel.EMAIL and settings.email.transport == "smtp":
        email = settings.email
        return f"smtp:{email.host}:{email.effective_port}:{email.username or parseaddr(sender)[1]}"
    transport = settings.email.transport if channel == Channel.EMAIL else settings.sms.transport
    return f"{transport}:{channel}:{sender}"


class CampaignRunner:
    """One runner of one campaign; several may share a campaign, each claiming its own batches."""

    def __init__(self, settings: Settings, campaign_id: int):
        self.settings = settings
        self.campaign_id = campaign_id
        self.stop = asyncio.Event()
        self.runner_id: int | None = None
        self.streak = 0
        self.unrecorded: list = []
        self.in_flight: set[int] = set()
        self.flushed_at = time.monotonic()

    def _event(self, message: str, level: str = "info") -> None:
        record_event(self.settings.logs_dir, self.campaign_id, message, level)

    def _halt(self, control: str, error: str | None = None) -> None:
        registry.request_stop(self.campaign_id, control, error)
        self.stop.set()

    async def _watch(self) -> None:
        """Poll the control flag every WATCH_EVERY seconds and heartbeat every few seconds."""
        last_beat = time.monotonic()
        while not self.stop.is_set():
            if registry.control_of(self.campaign_id) in ("pause", "cancel"):
                self.stop.set()
                return
            if time.monotonic() - last_beat >= registry.HEARTBEAT_EVERY:
                last_beat = time.monotonic()
                if not registry.heartbeat(self.runner_id):
                    self._event("runner was declared dead by the supervisor; stopping", "error")
                    self.stop.set()
                    return
            try:
                await asyncio.wait_for(self.stop.wait(), WATCH_EVERY)
            except TimeoutError:
                pass

    def _render(self, item: queue.Claimed) -> Outgoing:
        if self.campaign.channel == Channel.EMAIL:
            message_id = f"{self.campaign_id}.{item.id}.{item.attempts}"
            return Outgoing(item.id, item.address,
                            self.composer.email_bytes(item.variables, item.address, message_id))
        return Outgoing(item.id, item.address, self.composer.sms_text(item.variables))

    def _flush(self) -> None:
        """Record what has been sent so far, so progress shows and a crash loses little."""
        if self.unrecorded:
            results, self.unrecorded = self.unrecorded, []
            queue.record(self.campaign_id, results, self.settings.delivery, self.campaign.channel)
            self._note_errors(results)
        self.flushed_at = time.monotonic()

    def _note_errors(self, results: list) -> None:
        """One event per distinct failure reason in this flush (at most three), with an example."""
        reasons = Counter((r.outcome, r.reason) for _, r in results if r.outcome in PROBLEMS)
        for (outcome, reason), number in reasons.most_common(3):
            example = next(item.address for item, r in results if r.reason == reason)
            self._event(f"{number} {outcome}: {reason} (e.g. {example})",
                        "warning" if outcome == Outcome.RETRY else "error")

    async def _lane(self, lane: int, items) -> None:
        for item in items:
            if self.stop.is_set() or not await self.limiter.wait(self.stop):
                self.unrecorded.append((item, NOT_SENT))
                continue
            try:
                message = self._render(item)
                self.in_flight.add(item.id)
                result = await self.channel.send(lane, message)
            except render_limits.RenderInterrupted:  # a signal, pause or cancel came mid-render
                result = NOT_SENT
                if not self.stop.is_set():  # a runner declared dead stops without pausing
                    self._halt("pause")
            except RenderError as exc:
                result = SendResult(Outcome.FAILED, reason=str(exc))
            self.in_flight.discard(item.id)
            self.unrecorded.append((item, result))
            if time.monotonic() - self.flushed_at >= FLUSH_EVERY:
                self._flush()
            if result.outcome == Outcome.STOP:
                if not self.stop.is_set():
                    self._event(f"paused: {result.reason}", "error")
                    self._halt("pause", result.reason)
            else:
                self._note(result)

    def _note(self, result: SendResult) -> None:
        """Track consecutive failures; a run of failure_streak pauses the campaign."""
        if result.outcome == Outcome.SENT:
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.settings.delivery.failure_streak and not self.stop.is_set():
            reason = f"the last {self.streak} attempts all failed; last error: {result.reason}"
            self._event(f"paused: {reason}", "error")
            self._halt("pause", reason)

    async def _idle(self) -> bool:
        """Nothing due: False when the campaign has no pending work left, else wait for the next."""
        pending, _ = queue.open_work(self.campaign_id)
        if pending == 0:
            return False
        due = queue.next_due(self.campaign_id) or 0
        delay = min(max(due - time.time(), 0.05), 1.0)
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            pass
        return True

    def _claim_size(self, sent: int, seconds: float) -> int:
        """About one second of sending at the pace just measured, within [lanes, batch_size]."""
        ceiling = self.settings.delivery.batch_size
        if self.rate > 0:
            ceiling = min(ceiling, max(1, int(self.rate)))
        if seconds <= 0:
            return ceiling
        return max(min(self.channel.lanes, ceiling), min(ceiling, int(sent / seconds)))

    async def _loop(self) -> None:
        limit = min(self._claim_size(0, 0), self.channel.lanes * 4)
        while not self.stop.is_set():
            batch = queue.claim(self.campaign_id, self.runner_id, limit)
            if not batch:
                if not await self._idle():
                    return
                continue
            started = time.monotonic()
            items = iter(batch)
            await asyncio.gather(*(self._lane(lane, items) for lane in range(self.channel.lanes)))
            self._flush()
            limit = self._claim_size(len(batch), time.monotonic() - started)

    def _on_signal(self, name: str) -> None:
        self._event(f"runner {self.runner_id} got {name}; pausing")
        self._halt("pause")

    def _prepare(self) -> None:
        self.campaign = Campaign.get_by_id(self.campaign_id)
        sender = effective_sender(self.campaign, self.settings)
        default_rate = (self.settings.email.rate if self.campaign.channel == Channel.EMAIL
                        else self.settings.sms.rate)
        self.rate = self.campaign.rate if self.campaign.rate is not None else default_rate
        self.limiter = RateLimiter(sender_key(self.settings, self.campaign.channel, sender),
                                   self.rate)
        self.composer = make_composer(self.campaign, self.settings)
        self.channel = make_channel(self.settings, self.campaign.channel, self.campaign_id, sender)

    async def run(self) -> str | None:
        """Run until done, paused or cancelled; returns the campaign's state if this runner set it."""
        self.runner_id = registry.register(self.campaign_id)
        if self.runner_id is None:
            return None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        # the loop cannot run these while a template renders; a render is interrupted instead
        render_limits.stop_rendering_when(
            lambda: self.stop.is_set() or registry.control_of(self.campaign_id) in ("pause",
                                                                                   "cancel"),
            (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
        self.channel = None
        watcher = asyncio.create_task(self._watch())
        try:
            self._prepare()
            self._event(f"runner {self.runner_id} started (pid {os.getpid()})")
            await self.channel.open()
            await self._loop()
        except ChannelStopped as exc:
            self._event(f"paused: {exc}", "error")
            self._halt("pause", str(exc))
        except Exception as exc:
            log.exception("runner %s of campaign %s crashed", self.runner_id, self.campaign_id)
            self._event(f"paused: runner crashed: {type(exc).__name__}: {exc}", "error")
            self._halt("pause", f"runner crashed: {type(exc).__name__}: {exc}")
        finally:
            self.stop.set()
            await watcher
            if self.channel is not None:
                await self.channel.close()
            if self.unrecorded:
                self._flush()
            queue.mark_unknown_ids(sorted(self.in_flight), "the runner crashed while sending")
            queue.release_claims(self.runner_id)
            status = registry.settle(self.runner_id, self.campaign_id)
            if status:
                self._event(f"campaign {status}")
        return status


def main(argv: list[str] | None = None) -> int:
    """`python -m messagehub_tui.workers.runner --home DIR ID`: run one runner to its end."""
    parser = argparse.ArgumentParser(description="run one campaign runner")
    parser.add_argument("--home", required=True)
    parser.add_argument("campaign_id", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.home)
    open_db(settings.db_path)
    asyncio.run(CampaignRunner(settings, args.campaign_id).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
