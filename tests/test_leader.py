"""Leader election on PostgreSQL: one daemon holds the advisory lock and fires schedules; when its
session ends another takes over; the lock's session has keepalives within the heartbeat."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

from messagehub_tui import control
from messagehub_tui.models import Campaign, utcnow
from messagehub_tui.workers import registry
from messagehub_tui.workers.leader import RETRY_EVERY, AdvisoryLock, Keepalive
from messagehub_tui.workers.scheduler import CampaignScheduler
from tests.engine import make_home, poll

HOLDER = textwrap.dedent("""
    import sys, time
    from messagehub_tui.workers.leader import AdvisoryLock
    lock = AdvisoryLock(sys.argv[1], "host-a")
    print(lock.held(), flush=True)
    time.sleep(600)
""")


def test_one_holds_the_lock_and_another_takes_over_when_it_lets_go(pg_database):
    first, second = AdvisoryLock(pg_database, "host-a"), AdvisoryLock(pg_database, "host-b")
    try:
        assert first.held()
        assert not second.held()
        assert first.held(), "the leader keeps the lock while its session lives"
        first.close()
        poll(second.held, timeout=RETRY_EVERY * 3, what="host-b takes the lock")
        assert not first.held()
    finally:
        first.close()
        second.close()


def test_a_killed_leaders_lock_goes_to_another_host(pg_database):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_database],
                              stdout=subprocess.PIPE, text=True)
    other = AdvisoryLock(pg_database, "host-b")
    try:
        assert holder.stdout.readline() == "True\n"
        assert not other.held()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        poll(other.held, timeout=RETRY_EVERY * 3, what="host-b takes the dead leader's lock")
    finally:
        holder.kill()
        holder.wait()
        other.close()


def test_the_lock_session_asks_the_server_to_probe_within_the_heartbeat_timeout(pg_database):
    keepalive = Keepalive.within(registry.STALE_AFTER)
    assert keepalive.gone_after <= registry.STALE_AFTER / 2
    lock = AdvisoryLock(pg_database, "host-a", keepalive)
    try:
        assert lock.held()
        assert lock.connection is not None
        server = {name: lock.connection.execute(f"SHOW {name}").fetchone()[0]
                  for name in ("tcp_keepalives_idle", "tcp_keepalives_interval",
                               "tcp_keepalives_count", "tcp_user_timeout")}
        assert server == {"tcp_keepalives_idle": str(keepalive.idle),
                          "tcp_keepalives_interval": str(keepalive.interval),
                          "tcp_keepalives_count": str(keepalive.count),
                          "tcp_user_timeout": str(keepalive.gone_after * 1000)}, server
    finally:
        lock.close()


def test_only_the_leader_fires_a_due_schedule(home, pg_database):
    """The schedule lives in the home's database; the leadership in PostgreSQL's lock."""
    settings, cid = make_home(home, "", count=3)
    control.schedule(settings, cid, utcnow() + timedelta(seconds=1))
    Campaign.update(scheduled_at=utcnow() - timedelta(seconds=1)).where(Campaign.id == cid) \
        .execute()
    leader = AdvisoryLock(pg_database, "host-a")
    follower_lock = AdvisoryLock(pg_database, "host-b")
    assert leader.held()
    follower = CampaignScheduler(settings, runners=False, leader=follower_lock)
    try:
        follower.sync()
        assert Campaign.get_by_id(cid).status == "scheduled"
        leader.close()
        poll(follower_lock.held, timeout=RETRY_EVERY * 3, what="the follower leads")
        follower.sync()
        assert Campaign.get_by_id(cid).status == "queued"
        assert follower.launched == [cid]
    finally:
        leader.close()
        follower_lock.close()
