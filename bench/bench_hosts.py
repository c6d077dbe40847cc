"""Several hosts: send throughput on PostgreSQL with 1, 2 and 3 hosts (network namespaces on this
machine, so they share its cores) beside SQLite on one host, with the claim wait per batch; then
the failover times: a dead leader's lock taken over, a dead host's claims settled while the others
go on sending.

Root only (namespaces). Every host runs `messagehub-tui daemon` with [delivery] processes runners;
the campaign is launched without runners and the daemons join it, so every host starts alike.
"""

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402

from messagehub_tui import campaigns, contacts, control  # noqa: E402
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.models import Campaign, Event, Runner
from tests.netns import (  # noqa: E402
    host_toml,
    leader_of,
    start_daemons,
    stop_daemons,
    virtual_hosts,
)
from tests.peers import SmtpSink, start_sink  # noqa: E402
from tests.pgcluster import running_cluster  # noqa: E402

BODY = ("Dear {{ first_name }},\n\n" + "Your plan in {{ city }} renews soon; here is what "
        "changed this month and what it means for you.\n" * 20 + "\nRegards,\nThe team\n")
CLAIMS = re.compile(r"runner \d+ on (\S+): (\d+) claims, ([\d.]+) ms each")


def fill(home: Path, toml: str, recipients: int) -> tuple:
    """Contacts and one campaign in the database `toml` names; (settings, campaign id)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "messagehub.toml").write_text(toml)
    settings = load_settings(home)
    open_db(settings.db_location)
    with (home / "people.csv").open("w") as handle:
        handle.write("email,first_name,city\n")
        for i in range(recipients):
            handle.write(f"user{i}@example{i % 50}.com,First{i},City{i % 7}\n")
    contacts.import_csv(home / "people.csv", home, "people")
    campaign = campaigns.create(settings, "bench", "email", "people", BODY,
                                subject="{{ first_name }}, your news")
    return settings, campaign.id


def wait_settled(cid: int, timeout: float = 1800) -> Campaign:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign = Campaign.get_by_id(cid)
        if campaign.status in ("completed", "paused", "cancelled", "failed"):
            return campaign
        time.sleep(0.2)
    raise SystemExit(f"campaign {cid} did not finish within {timeout} s")


def figures(cid: int) -> dict:
    """msg/s from the campaign's first registration to its completion; mean claim wait."""
    campaign = Campaign.get_by_id(cid)
    sent = campaigns.status(cid).counts.sent
    seconds = (campaign.finished_at - campaign.started_at).total_seconds()
    claims, waited, hosts = 0, 0.0, set()
    for (message,) in Event.select(Event.message).where(Event.campaign == cid).tuples():
        found = CLAIMS.search(message)
        if found:
            hosts.add(found[1])
            claims += int(found[2])
            waited += int(found[2]) * float(found[3])
    return {"sent": sent, "seconds": seconds, "rate": sent / seconds, "status": campaign.status,
            "claims": claims, "wait": waited / claims if claims else 0.0, "hosts": len(hosts)}


def row(name: str, found: dict, processes: int) -> tuple[str, str]:
    return (name, f"{found['rate']:,.0f} msg/s ({found['sent']:,} {found['status']} in "
                  f"{found['seconds']:.1f} s; {found['hosts']} host(s) x {processes} runner(s)); "
                  f"claim wait {found['wait']:.1f} ms per batch over {found['claims']:,} claims")


def sqlite_one_host(recipients: int, processes: int) -> dict:
    sink, port = start_sink()
    home = Path(tempfile.mkdtemp(prefix="bench-hosts-sqlite-"))
    try:
        toml = host_toml("", "127.0.0.1", port, processes).replace('[database]\nurl = ""\n', "")
        settings, cid = fill(home, toml, recipients)
        for runner in control.launch(settings, cid).runners:
            runner.wait()
        wait_settled(cid)
        return figures(cid)
    finally:
        close_db()
        sink.terminate()
        sink.wait()


def postgres_hosts(count: int, recipients: int, processes: int, stale: float,
                   failover: bool) -> tuple[dict, dict]:
    """A campaign on `count` hosts; with `failover`, kill one host mid-campaign and then the
    leader's host, timing what follows."""
    base = Path(tempfile.mkdtemp(prefix="bench-hosts-"))
    env = {"MESSAGEHUB_STALE_AFTER": str(stale)}
    times: dict = {}
    with virtual_hosts(count, base / "hosts", env) as hosts, \
            running_cluster(listen=("127.0.0.1", hosts.gateway),
                            client_networks=(hosts.subnet,)) as cluster:
        sink = SmtpSink(address=hosts.gateway)
        daemons = []
        try:
            database = cluster.create_database()
            url = cluster.url(database, host=hosts.gateway)
            toml = host_toml(url, hosts.gateway, sink.port, processes)
            settings, cid = fill(base / "bench", toml, recipients)
            for host in hosts.hosts:
                (host.home / "messagehub.toml").write_text(toml)
                host.run("init")
            daemons = start_daemons(hosts.hosts)
            control.launch(settings, cid, start=False)
            if failover:
                times = kill_mid_campaign(hosts, cluster, database, cid)
            wait_settled(cid)
            return figures(cid), times
        finally:
            stop_daemons(daemons)
            close_db()
            sink.stop()
            hosts.close()


def kill_mid_campaign(hosts, cluster, database: str, cid: int) -> dict:
    """Kill host-2 at a third of the campaign: how long until its claims are settled, and the
    longest the campaign went without a send; then kill the leader's host without a word."""
    total = campaigns.status(cid).counts.total
    while campaigns.status(cid).counts.sent < total // 3:
        time.sleep(0.1)
    victim = hosts.hosts[1]
    killed = time.monotonic()
    victim.kill()
    last_sent, last_change, gap = campaigns.status(cid).counts.sent, killed, 0.0
    # recovery deletes the dead host's rows and, when the others had sent the rest, completes
    # the campaign in the same transaction: whichever is seen first marks the settling
    settled = None
    while settled is None:
        now = time.monotonic()
        sent = campaigns.status(cid).counts.sent
        if sent != last_sent:
            gap, last_sent, last_change = max(gap, now - last_change), sent, now
        if not Runner.select().where(Runner.host == "host-2").exists() \
                or Campaign.get_by_id(cid).status in ("completed", "paused"):
            settled = now - killed
        time.sleep(0.05)
    leader = leader_of(cluster, database)
    by_id = {host.env["MESSAGEHUB_HOST_ID"]: host for host in hosts.hosts}
    killed = time.monotonic()
    by_id[leader].kill(silently=True)
    while leader_of(cluster, database) in (None, leader):
        time.sleep(0.1)
    return {"claims settled": settled, "longest without a send": gap,
            "leader": leader, "takeover": time.monotonic() - killed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1, help="runners per host")
    parser.add_argument("--stale", type=float, default=30.0,
                        help="heartbeat timeout (MESSAGEHUB_STALE_AFTER) for the failover run")
    args = parser.parse_args()
    rows = [("recipients", f"{args.recipients:,}")]
    rows.append(row("SQLite, 1 host", sqlite_one_host(args.recipients, args.processes),
                    args.processes))
    for count in (1, 2, 3):
        found, _ = postgres_hosts(count, args.recipients, args.processes, args.stale, False)
        rows.append(row(f"PostgreSQL, {count} host(s)", found, args.processes))
    found, failover = postgres_hosts(3, args.recipients, args.processes, args.stale, True)
    rows += [
        ("PostgreSQL, 3 hosts, host-2 killed at 1/3", row("", found, args.processes)[1]),
        (f"failover (heartbeat timeout {args.stale:g} s): host-2 killed",
         f"its claims settled after {failover['claims settled']:.1f} s; the campaign went at most "
         f"{failover['longest without a send']:.2f} s without a send"),
        ("failover: leader's host cut off and killed",
         f"{failover['leader']}'s lock taken over after {failover['takeover']:.1f} s"),
    ]
    print_table("Several hosts: one campaign, send throughput and failover", rows)


if __name__ == "__main__":
    main()
