"""Pause, resume, cancel, signals, crashes and several runners, on real processes and a real
SQLite file."""

import os
import signal
from collections import Counter

import pytest

from messagehub_tui import campaigns, control, delivery
from messagehub_tui.errors import InvalidState
from messagehub_tui.models import Campaign, Delivery, Runner
from messagehub_tui.workers.ratelimit import reserve_slots
from messagehub_tui.workers.supervisor import recover
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.test_engine_smtp import smtp_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


def sent_count(campaign_id):
    return campaigns.status(campaign_id).counts.sent


def addresses(campaign_id, state):
    return {d.address for d in Delivery.select().where((Delivery.campaign == campaign_id)
                                                        & (Delivery.status == state))}


def assert_no_duplicates(handler, campaign_id):
    received = handler.recipients()
    unknown = addresses(campaign_id, "unknown")
    assert all(n == 1 for n in received.values()), received.most_common(3)
    assert addresses(campaign_id, "sent") <= set(received)
    assert set(received) <= addresses(campaign_id, "sent") | unknown


def test_pause_resume_cancel_mid_campaign(home, smtp_server):
    port, handler = smtp_server
    settings, cid = make_home(home, smtp_toml(port), count=60, rate=20)
    control.launch(settings, cid)
    poll(lambda: sent_count(cid) >= 5, what="first sends")
    control.pause(settings, cid)
    wait_status(cid, "paused", timeout=3)
    at_pause = counts_add_up(cid)
    assert at_pause["sending"] == 0 and at_pause["pending"] > 0
    assert len(handler.recipients()) == at_pause["sent"]
    assert "already paused" in control.pause(settings, cid)
    control.resume(settings, cid)
    poll(lambda: sent_count(cid) >= at_pause["sent"] + 5, what="sends after resume")
    control.cancel(settings, cid)
    wait_status(cid, "cancelled", timeout=3)
    counts = counts_add_up(cid)
    assert counts["cancelled"] > 0 and counts["pending"] == 0 and counts["sending"] == 0
    assert counts["sent"] + counts["cancelled"] == 60
    assert_no_duplicates(handler, cid)
    with pytest.raises(InvalidState):
        control.resume(settings, cid)


def test_launching_twice_does_nothing_the_second_time(home, smtp_server):
    port, handler = smtp_server
    settings, cid = make_home(home, smtp_toml(port), count=10)
    assert control.launch(settings, cid).started
    second = control.launch(settings, cid)
    assert not second.started and "already" in second.message
    wait_status(cid, "completed")
    assert_no_duplicates(handler, cid)
    assert len(handler.recipients()) == 10


def test_sigterm_pauses_cleanly_then_resume_finishes(home, smtp_server):
    port, handler = smtp_server
    settings, cid = make_home(home, smtp_toml(port), count=40, rate=20)
    runners = control.launch(settings, cid).runners
    poll(lambda: sent_count(cid) >= 5, what="first sends")
    runners[0].send_signal(signal.SIGTERM)
    assert runners[0].wait(timeout=10) == 0
    campaign = wait_status(cid, "paused")
    assert campaign.stop_request == ""
    assert counts_add_up(cid)["sending"] == 0
    control.resume(settings, cid)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 40
    assert_no_duplicates(handler, cid)
    assert len(handler.recipients()) == 40


def test_sigkill_then_recovery_then_resume(home, smtp_server):
    port, handler = smtp_server
    handler.delay = 0.2
    settings, cid = make_home(home, smtp_toml(port, connections=4), count=40)
    runners = control.launch(settings, cid).runners
    poll(lambda: len(handler.recipients()) >= 4
         and campaigns.status(cid).counts.sending > 0, what="sends in flight")
    os.kill(runners[0].pid, signal.SIGKILL)
    runners[0].wait(timeout=10)
    assert Campaign.get_by_id(cid).status == "running"
    assert recover(settings) == [cid]
    assert Campaign.get_by_id(cid).status == "interrupted"
    assert Runner.select().count() == 0
    counts = counts_add_up(cid)
    assert counts["sending"] == 0 and counts["unknown"] > 0
    unknown = addresses(cid, "unknown")
    control.resume(settings, cid)
    wait_status(cid, "completed")
    final = counts_add_up(cid)
    assert final["sent"] + final["unknown"] == 40
    assert addresses(cid, "unknown") == unknown
    assert_no_duplicates(handler, cid)
    control.retry(settings, cid, failed=False, unknown=True)
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 40


def test_two_runner_processes_share_one_campaign(home, smtp_server):
    port, handler = smtp_server
    # A shared rate of 60/s makes the campaign last 5 s, so a runner that starts late under
    # load still gets its share.
    toml = smtp_toml(port, processes=2, connections=2, rate=60) + "batch_size = 20\n"
    settings, cid = make_home(home, toml, count=300)
    runners = control.launch(settings, cid).runners
    assert len(runners) == 2
    wait_status(cid, "completed")
    assert counts_add_up(cid)["sent"] == 300
    assert_no_duplicates(handler, cid)
    assert len(handler.recipients()) == 300
    log = (home / "logs" / f"campaign-{cid}.log").read_text()
    assert log.count("started (pid") == 2
    shares = Counter(d.runner_id for d in Delivery.select().where(Delivery.campaign == cid))
    assert len(shares) == 2 and min(shares.values()) >= 30, shares


def test_last_error_keeps_the_latest_failure(home):
    """A campaign that completes with failures says why in status --json (the real CLI)."""
    import json
    import subprocess
    import sys

    from tests.peers import SmtpSink
    sink = SmtpSink("-f", "rcpt")
    try:
        toml = smtp_toml(sink.port) + "failure_streak = 100\n"
        settings, cid = make_home(home, toml, count=12)
        control.launch(settings, cid)
        wait_status(cid, "completed")
    finally:
        sink.stop()
    assert counts_add_up(cid)["failed"] == 12
    shown = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                            "status", str(cid), "--json"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["last_error"].startswith("RCPT TO: 5"), shown.stdout


def test_campaigns_from_one_sender_share_its_rate(home, smtp_server):
    port, handler = smtp_server
    settings, first = make_home(home, smtp_toml(port, rate=10), count=12)
    second = campaigns.create(settings, "again", "email", "people", "x", subject="y").id
    control.launch(settings, first)
    control.launch(settings, second)
    wait_status(first, "completed")
    wait_status(second, "completed")
    times = sorted(handler.times)
    assert len(times) == 24
    busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert busiest <= 11, busiest
    assert times[-1] - times[0] >= 2.0


def test_reserved_slots_are_smooth_and_shared(home, settings):
    first = reserve_slots("smtp:a", 10, 5, now=100.0)
    second = reserve_slots("smtp:a", 10, 5, now=100.0)
    other = reserve_slots("smtp:b", 10, 1, now=100.0)
    assert first == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])
    assert second == pytest.approx([100.5, 100.6, 100.7, 100.8, 100.9])
    assert other == [100.0]


def test_dry_run_reports_problems_without_sending(home):
    settings, cid = make_home(home, "", count=3)
    extra = home / "extra.csv"
    extra.write_text("email,code\ncoded@example.com,X1\n")
    from messagehub_tui import contacts
    contacts.import_csv(extra, home, "people")
    campaigns.update(settings, cid, body="Hi {{ first_name }} {{ code }}")
    rendered, problems = delivery.dry_run(settings, cid)
    assert rendered == 1
    assert len(problems) == 3 and "'code' is undefined" in problems[0][1]
    assert campaigns.status(cid).status == "draft"
    assert not (home / "outbox").exists()


async def test_a_late_process_does_not_burst(home, settings):
    import asyncio
    import time as clock

    from messagehub_tui.workers.ratelimit import RateLimiter
    limiter = RateLimiter("outbox:email:late", 20)
    limiter._slots.extend([clock.time() - 1.0 + i * 0.05 for i in range(5)])
    stop = asyncio.Event()
    started = clock.time()
    planned = []
    for _ in range(5):
        assert await limiter.wait(stop)
        planned.append(limiter._last)
    # the times the limiter released sends at: 1/rate apart however late the slots were (the
    # moments this test wakes up at jitter under load; the schedule must not)
    gaps = [b - a for a, b in zip(planned, planned[1:], strict=False)]
    assert min(gaps) >= 0.05 - 1e-6, gaps
    assert clock.time() - started >= 4 * 0.05 - 0.01


@pytest.mark.parametrize("fails", [False, True], ids=["launched", "launch-fails"])
def test_a_launch_starts_its_runners_first_and_they_wait_for_its_commit(home, monkeypatch,
                                                                         fails):
    """`launch` starts its runners before it validates and materialises (their start-up
    overlaps that work) and lets them go once it has committed; when the launch fails, they
    exit without touching the campaign."""
    from messagehub_tui import audience
    from messagehub_tui.workers import supervisor
    settings, cid = make_home(home, count=30)
    started, seen_while_materialising = [], []
    real_start, real_sql = supervisor.start_runners, audience.materialise_sql

    def start_runners(*args, **kwargs):
        started.extend(real_start(*args, **kwargs))
        return started

    def materialise_sql(*args):
        # started, and waiting (not one has exited, not one has registered)
        seen_while_materialising.extend(runner.pid for runner in started
                                        if runner.poll() is None)
        assert Runner.select().count() == 0
        if fails:
            raise RuntimeError("the disk vanished")
        return real_sql(*args)

    monkeypatch.setattr(control, "start_runners", start_runners)
    monkeypatch.setattr(audience, "materialise_sql", materialise_sql)
    if fails:
        with pytest.raises(RuntimeError):
            control.launch(settings, cid)
        assert [runner.wait(timeout=60) for runner in started] == [0] * len(started)
        assert Campaign.get_by_id(cid).status == "draft"
        assert Runner.select().count() == 0 and Delivery.select().count() == 0
    else:
        control.launch(settings, cid)
        wait_status(cid, "completed")
        assert counts_add_up(cid)["sent"] == 30
        assert Delivery.select().where(Delivery.attempts != 1).count() == 0
    assert started and sorted(seen_while_materialising) == sorted(r.pid for r in started)
