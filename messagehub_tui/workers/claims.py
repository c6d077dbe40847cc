"""How much a runner claims at a time and what its claims cost: sized from the pace it
measures, tapered near the campaign's end, timed to tell when runners wait on each other."""

from __future__ import annotations

import time

from messagehub_tui.config_checks import MAX_BATCH
from messagehub_tui.workers import queue, registry

# Half a second of work per claim: rare enough that claiming costs little, short enough that
# the runners of one campaign finish within about that of each other.
CLAIM_SECONDS = 0.5
# A claim that takes this long on average (seconds) means runners wait on each other.
SLOW_CLAIM = 0.05


def tapered(size: int, pending: int, runners: int, lanes: int) -> int:
    """A claim of `size`, but near the campaign's end at most half of this runner's share of
    the `pending` left (one per lane at least): the runners of a campaign then run out of work
    together. Untapered, the last claim (half a second of work) left one runner sending alone
    while the others had nothing: with two runners on two cores, a fifth of a 20,000-message
    send at half speed."""
    share = -(-pending // (2 * max(1, runners)))
    return max(min(size, lanes), min(size, share))


class Claims:
    """One runner's claims on its campaign: the next one's size, and how many it made in how
    long."""

    def __init__(self, campaign_id: int, runner_id: int, batch_size: int, rate: float,
                 lanes: int):
        self.campaign_id, self.runner_id = campaign_id, runner_id
        self.batch_size, self.rate, self.lanes = batch_size, rate, lanes
        self.count, self.seconds = 0, 0.0
        self.limit = min(self.size(0, 0), lanes * 4)  # the next claim's size

    def size(self, sent: int, seconds: float) -> int:
        """CLAIM_SECONDS of sending at the pace just measured (`sent` in `seconds`), at least
        one per lane.

        batch_size sizes the claims only until a pace is measured: a runner faster than
        batch_size per CLAIM_SECONDS claims more (fewer claim transactions and fewer waits for
        the slowest lane), up to MAX_BATCH; a rate limit caps a claim at one second of it.
        """
        ceiling = MAX_BATCH if seconds > 0 else self.batch_size
        if self.rate > 0:
            ceiling = min(ceiling, max(1, int(self.rate)))
        if seconds <= 0:
            return ceiling
        paced = int(CLAIM_SECONDS * sent / seconds)
        return max(min(self.lanes, ceiling), min(ceiling, paced))

    def take(self) -> list[queue.Claimed]:
        """The next batch of `limit`, tapered near the end; queue.RunnerGone when this runner
        was declared dead."""
        asked = time.monotonic()
        pending, _ = queue.open_work(self.campaign_id)
        limit = tapered(self.limit, pending, registry.live_runners(self.campaign_id), self.lanes)
        batch = queue.claim(self.campaign_id, self.runner_id, limit)
        self.count += 1
        self.seconds += time.monotonic() - asked
        return batch

    def slow(self) -> bool:
        """Whether a claim took long enough on average to say runners wait on each other."""
        return self.seconds / self.count >= SLOW_CLAIM

    def summary(self, host: str) -> str:
        return (f"runner {self.runner_id} on {host}: {self.count} claims, "
                f"{1000 * self.seconds / self.count:.1f} ms each")
