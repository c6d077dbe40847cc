"""Throughput levers that change behaviour: claims sized by the measured pace, lanes fed across
claims, and one runner process per core by default."""

from __future__ import annotations

import asyncio

import pytest

from messagehub_tui import control, render_limits
from messagehub_tui.config_checks import auto_processes
from messagehub_tui.database import close_db
from messagehub_tui.models import Delivery
from messagehub_tui.workers import queue
from messagehub_tui.workers import runner as runner_module
from messagehub_tui.workers.claims import CLAIM_SECONDS, tapered
from messagehub_tui.workers.runner import CampaignRunner
from tests.engine import counts_add_up, make_home, wait_status
from tests.scripted_smtp import ScriptedSmtp
from tests.test_engine_smtp import smtp_toml

BOTH_ENGINES = True


def test_a_fast_runner_claims_more_than_batch_size(home, monkeypatch):
    """A runner far faster than batch_size per half second grows its claims past batch_size;
    every delivery still goes out once."""
    settings, cid = make_home(home, "[delivery]\nprocesses = 1\nbatch_size = 10\n", count=1500)
    control.launch(settings, cid, start=False)
    limits = []
    real_claim = queue.claim

    def claim(campaign_id, runner_id, limit, now=None):
        limits.append(limit)
        return real_claim(campaign_id, runner_id, limit, now)

    monkeypatch.setattr(queue, "claim", claim)
    # the runner sets this process-wide stop check; the tests after this one render too
    monkeypatch.setattr(render_limits, "_stop_check", None)
    runner = CampaignRunner(settings, cid)
    assert asyncio.run(runner.run()) == "completed"
    assert limits[0] <= 10  # no pace measured yet: batch_size at most
    assert max(limits) > 10, limits
    assert counts_add_up(cid)["sent"] == 1500
    assert Delivery.select().where(Delivery.attempts != 1).count() == 0
    # a rate limit still bounds a claim to one second of it, however fast the runner went
    runner.claims.rate = 7
    assert runner.claims.size(10_000, 1.0) == 7
    runner.claims.rate = 0
    assert runner.claims.size(10_000, 1.0) == int(CLAIM_SECONDS * 10_000)


def test_claims_taper_near_the_end_so_runners_run_out_together(home, monkeypatch):
    """Near the end a runner claims at most half of its share of what is left, so the runners
    of a campaign finish together; untapered, a fast runner's last claim (half a second of its
    pace) took all there was while another runner had nothing left to send."""
    settings, cid = make_home(home, "[delivery]\nprocesses = 1\nbatch_size = 1000\n",
                              count=1500)
    control.launch(settings, cid, start=False)
    claims = []
    real_claim = queue.claim

    def claim(campaign_id, runner_id, limit, now=None):
        claims.append((limit, queue.open_work(campaign_id)[0]))
        return real_claim(campaign_id, runner_id, limit, now)

    monkeypatch.setattr(queue, "claim", claim)
    monkeypatch.setattr(render_limits, "_stop_check", None)  # as above
    runner = CampaignRunner(settings, cid)
    assert asyncio.run(runner.run()) == "completed"
    lanes = runner.transport.lanes
    assert all(limit <= max(lanes, -(-pending // 2)) for limit, pending in claims[1:]), claims
    assert counts_add_up(cid)["sent"] == 1500
    # the rule: half of this runner's share, one per lane at least, never more than asked
    assert tapered(2700, 20_000, 2, 8) == 2700
    assert tapered(2700, 4000, 2, 8) == 1000
    assert tapered(2700, 10, 2, 8) == 8
    assert tapered(5, 10_000, 1, 8) == 5


@pytest.mark.parametrize("drain_after", [runner_module.DRAIN_AFTER, 1], ids=["fed", "drained"])
def test_a_lane_sends_the_next_envelope_with_each_body_across_claims(home, monkeypatch,
                                                                      drain_after):
    """The next batch is claimed while the lanes still send, so a lane goes on sending each body
    with the next message's envelope across claims: only its first message waits for a round
    trip of its own (over a far relay, every claim used to cost each lane one more). Once the
    journal holds DRAIN_AFTER bytes the lanes drain so it can be forgotten: then every claim
    starts afresh."""
    monkeypatch.setattr(runner_module, "DRAIN_AFTER", drain_after)
    server = ScriptedSmtp()
    try:
        settings, cid = make_home(home, smtp_toml(server.port, connections=1), count=60)
        control.launch(settings, cid, start=False)
        sizes = []
        real_claim = queue.claim

        def claim(campaign_id, runner_id, limit, now=None):
            sizes.append(len(batch := real_claim(campaign_id, runner_id, limit, now)))
            return batch

        monkeypatch.setattr(queue, "claim", claim)
        monkeypatch.setattr(render_limits, "_stop_check", None)  # as above
        assert asyncio.run(CampaignRunner(settings, cid).run()) == "completed"
        assert len([size for size in sizes if size]) >= 2, sizes  # a claim's end was crossed
        assert sizes.count(0) == 1, sizes  # the queue ran dry once: claimed in vain once
        assert counts_add_up(cid)["sent"] == 60
        commands = [command.split(" ", 1)[0].upper() for command in server.commands]
        alone = [i for i, verb in enumerate(commands)
                 if verb == "MAIL" and commands[i - 1] != "RSET"]
        batches = [size for size in sizes if size]
        # drained, a claim starts afresh, unless the batch before it was of one message (the
        # tapered end): the lane asked past it before handing it off, with nothing in the
        # journal yet, so that claim was fed
        fresh = 1 + len([before for before in batches[:-1] if before > 1])
        assert len(alone) == (1 if drain_after > 1 else fresh), (sizes, alone)
    finally:
        server.stop()


def test_default_settings_start_one_runner_per_core(home):
    settings, cid = make_home(home, "", count=30)
    runners = control.launch(settings, cid).runners
    assert len(runners) == auto_processes() == settings.delivery.processes
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 30
    for runner in runners:
        runner.wait(timeout=30)
    close_db()
