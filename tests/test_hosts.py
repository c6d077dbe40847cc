"""Hosts for real: three network namespaces, each running `messagehub-tui daemon` with its own home
and host id, sharing one PostgreSQL database and one smtp-sink across a virtual bridge.

Root only; skipped on a developer machine without namespaces or PostgreSQL, failed under CI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from messagehub_tui import campaigns, control
from messagehub_tui.database import close_db
from messagehub_tui.models import Campaign, Delivery, Event, Runner, utcnow
from tests.engine import counts_add_up, make_home, poll
from tests.netns import (
    Hosts,
    host_toml,
    leader_of,
    start_daemons,
    stop_daemons,
    virtual_hosts,
)
from tests.peers import SmtpSink
from tests.pgcluster import PgCluster, running_cluster

RECIPIENTS = 20_000
# Short heartbeats, so a dead host's runners are judged dead (and its scheduler lock freed)
# within seconds; the keepalives of the lock follow from it.
STALE_AFTER = 6


@dataclass
class Site:
    """The test hosts, the database they share and the relay they send to."""

    hosts: Hosts
    cluster: PgCluster
    database: str
    sink: SmtpSink

    @property
    def url(self) -> str:
        return self.cluster.url(self.database, host=self.hosts.gateway)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    env = {"MESSAGEHUB_STALE_AFTER": str(STALE_AFTER)}
    with virtual_hosts(3, tmp_path / "hosts", env) as hosts, \
            running_cluster(listen=("127.0.0.1", hosts.gateway),
                            client_networks=(hosts.subnet,)) as cluster:
        sink = SmtpSink(address=hosts.gateway)
        try:
            found = Site(hosts, cluster, cluster.create_database(), sink)
            toml = host_toml(found.url, hosts.gateway, sink.port)
            for host in hosts.hosts:
                (host.home / "messagehub.toml").write_text(toml)
                done = host.run("init")
                assert done.returncode == 0, done.stderr
            yield found
        finally:
            close_db()
            sink.stop()
            hosts.close()  # before the cluster stops: no host keeps a session open


def campaign_for(site: Site, home: Path, count: int) -> tuple:
    """A campaign to `count` new contacts, made from this process on the shared database."""
    home.mkdir()
    return make_home(home, host_toml(site.url, site.hosts.gateway, site.sink.port), count=count)


def another_campaign(settings) -> int:
    """One more campaign to the same list."""
    return campaigns.create(settings, "again", "email", "people", "Hello {{ first_name }}\n",
                            subject="Again").id


def new_leader(site: Site, old: str) -> str | None:
    now = leader_of(site.cluster, site.database)
    return now if now not in (None, old) else None


def hosts_running(cid: int) -> set[str]:
    return {runner.host for runner in Runner.select().where(Runner.campaign == cid)}


def addresses(cid: int, state: str) -> set[str]:
    return {d.address for d in Delivery.select(Delivery.address)
            .where((Delivery.campaign == cid) & (Delivery.status == state))}


def wait_completed(cid: int, timeout: float) -> Campaign:
    """Completed, passing only through the states a campaign goes through while hosts die."""
    def check():
        campaign = Campaign.get_by_id(cid)
        assert campaign.status in {"scheduled", "queued", "running", "interrupted", "completed"}, \
            (campaign.status, campaign.last_error)
        return campaign if campaign.status == "completed" else None
    return poll(check, timeout, every=0.5, what=f"campaign {cid} completed")


def test_three_hosts_share_a_campaign_and_finish_it_when_one_is_killed(site, tmp_path):
    daemons = start_daemons(site.hosts.hosts)
    try:
        # every address once, sent from all three hosts
        settings, first = campaign_for(site, tmp_path / "first", RECIPIENTS)
        launched = site.hosts.hosts[0].run("launch", str(first))
        assert launched.returncode == 0, launched.stderr
        poll(lambda: hosts_running(first) == {"host-1", "host-2", "host-3"}, timeout=60,
             what="runners of all three hosts")
        wait_completed(first, timeout=600)
        received = site.sink.recipients()
        assert len(received) == RECIPIENTS and set(received.values()) == {1}
        assert counts_add_up(first)["sent"] == RECIPIENTS

        # host-2 dies mid-campaign: the others finish; only its in-flight claims are unknown
        second = another_campaign(settings)
        before = site.sink.recipients()
        assert site.hosts.hosts[2].run("launch", str(second)).returncode == 0
        poll(lambda: "host-2" in hosts_running(second)
             and campaigns.status(second).counts.sent > RECIPIENTS // 5, timeout=300,
             what="a fifth sent, host-2 among the senders")
        at_kill = campaigns.status(second).counts
        killed_at = time.monotonic()
        site.hosts.hosts[1].kill()
        assert not site.hosts.hosts[1].pids()
        final = wait_completed(second, timeout=600)
        counts = counts_add_up(second)
        received = site.sink.recipients() - before
        sent, unknown = addresses(second, "sent"), addresses(second, "unknown")
        duplicates = {address for address, n in received.items() if n > 1}
        print(f"\nhost-2 killed at {at_kill.sent} sent, {at_kill.sending} sending: completed "
              f"{time.monotonic() - killed_at:.1f} s later; {counts}; duplicates "
              f"{len(duplicates)}, all among {len(unknown)} unknown ({final.last_error})")
        assert at_kill.sent < RECIPIENTS * 0.9, "killed mid-campaign"
        assert counts["sent"] + counts["unknown"] == RECIPIENTS, counts
        assert sent <= set(received), "every delivery marked sent reached the relay"
        assert set(received) <= sent | unknown, "nothing reached it that is marked otherwise"
        assert duplicates <= unknown
        assert len(unknown) <= 2000, "only host-2's claims in flight became unknown"
    finally:
        stop_daemons(daemons)


def test_when_the_leaders_host_dies_another_fires_the_next_schedule_once(site, tmp_path):
    daemons = start_daemons(site.hosts.hosts)
    try:
        leader = poll(lambda: leader_of(site.cluster, site.database), timeout=30,
                      what="a scheduler leader")
        by_id = {host.env["MESSAGEHUB_HOST_ID"]: host for host in site.hosts.hosts}
        settings, cid = campaign_for(site, tmp_path / "scheduled", 50)
        at = utcnow() + timedelta(seconds=STALE_AFTER * 3)
        control.schedule(settings, cid, at)
        killed_at = time.monotonic()
        by_id[leader].kill(silently=True)  # no FIN reaches the server: its keepalives must tell
        successor = poll(lambda: new_leader(site, leader), timeout=STALE_AFTER * 2, every=0.2,
                         what="another leader")
        print(f"\nleader {leader} killed silently; {successor} leads "
              f"{time.monotonic() - killed_at:.1f} s later")
        wait_completed(cid, timeout=120)
        launches = Event.select().where((Event.campaign == cid)
                                        & Event.message.startswith("launched")).count()
        assert launches == 1
        received = site.sink.recipients()
        assert len(received) == 50 and set(received.values()) == {1}
    finally:
        stop_daemons(daemons)
