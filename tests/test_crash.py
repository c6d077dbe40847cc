"""Crashes cost only what was in flight: SIGKILL, SIGSTOP and a full disk, on real processes."""

import os
import random
import signal
import sqlite3
import time

import pytest

from messagehub_tui import campaigns, control
from messagehub_tui.models import Campaign, Delivery, db
from messagehub_tui.workers import journal
from messagehub_tui.workers.supervisor import recover
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.peers import SmtpSink
from tests.test_engine_smtp import smtp_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def sink():
    started = SmtpSink()
    yield started
    started.stop()


def addresses(campaign_id, state):
    return {d.address for d in Delivery.select(Delivery.address)
            .where((Delivery.campaign == campaign_id) & (Delivery.status == state))}


def test_ten_sigkills_cost_at_most_the_messages_in_flight(home, sink):
    total, connections, kills = 3000, 4, 10
    toml = smtp_toml(sink.port, connections=connections, rate=150)
    settings, cid = make_home(home, toml, count=total)
    rng = random.Random(9)
    started = control.launch(settings, cid)
    per_kill, released = [], 0
    for _ in range(kills):
        runner = started.runners[0]
        before = campaigns.status(cid).counts.sent
        poll(lambda before=before: campaigns.status(cid).counts.sent > before,
             what="sends after start")
        poll(lambda: rng.random() < 0.1, every=0.05, what="a random moment")
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        at_kill = counts_add_up(cid)
        assert recover(settings) == [cid]
        after = counts_add_up(cid)
        assert after["sending"] == 0
        per_kill.append(after["unknown"] - at_kill["unknown"])
        released += after["pending"] - at_kill["pending"]
        assert not journal.runner_ids(home), "recovery removes the dead runner's journal"
        started = control.resume(settings, cid)
    wait_status(cid, "completed", timeout=120)
    final = counts_add_up(cid)
    received = sink.recipients()
    unknown = addresses(cid, "unknown")
    sent = addresses(cid, "sent")
    lost = len(sent - set(received)) + final["pending"] + final["sending"]
    duplicates = sum(n - 1 for n in received.values())
    print(f"\n{kills} SIGKILLs of {total} ({connections} connections): unknown per kill "
          f"{per_kill} (total {sum(per_kill)}), claimed but never handed back to pending "
          f"{released}, lost {lost}, duplicates {duplicates}")
    assert lost == 0 and duplicates == 0
    assert max(per_kill) <= connections, per_kill
    assert final["sent"] + final["unknown"] == total
    assert set(received) == sent | (unknown & set(received))
    control.retry(settings, cid, failed=False, unknown=True)
    wait_status(cid, "completed", timeout=60)
    received = sink.recipients()
    duplicates = sum(n - 1 for n in received.values())
    print(f"after retry --unknown: duplicates {duplicates} <= unknown {len(unknown)}")
    assert len(received) == total and duplicates <= len(unknown)
    assert counts_add_up(cid)["sent"] == total
    assert not journal.runner_ids(home)


def test_recovery_reads_the_journal_of_a_dead_runner(home):
    """Claimed and never handed -> pending, handed and sent -> sent, handed alone -> unknown."""
    from messagehub_tui.channels.base import Outcome
    from messagehub_tui.models import Runner
    from messagehub_tui.workers import queue
    settings, cid = make_home(home, "", count=5)
    control.launch(settings, cid, start=False)
    Campaign.update(status="running").where(Campaign.id == cid).execute()
    runner = Runner.create(campaign=cid, pid=2 ** 22 + 1, host=settings.host,
                           heartbeat_at=0)
    claimed = queue.claim(cid, runner.id, 5)
    kept = journal.Journal(journal.path_for(home, runner.id))
    assert oct(journal.path_for(home, runner.id).stat().st_mode & 0o777) == "0o600"
    kept.handed(claimed[0].id, claimed[0].attempts)
    kept.outcome(claimed[0].id, claimed[0].attempts, Outcome.SENT)
    kept.handed(claimed[1].id, claimed[1].attempts)
    kept.handed(claimed[2].id, claimed[2].attempts)
    kept.outcome(claimed[2].id, claimed[2].attempts, Outcome.RETRY)
    kept.close()
    assert recover(settings) == [cid]
    states = {d.address: (d.status, d.attempts) for d in Delivery.select()}
    assert states[claimed[0].address] == ("sent", 1)
    assert states[claimed[1].address] == ("unknown", 1)
    assert states[claimed[2].address] == ("pending", 1)
    assert states[claimed[3].address] == states[claimed[4].address] == ("pending", 0)
    assert not journal.path_for(home, runner.id).exists()


def test_a_host_back_confirms_from_its_journal_what_another_host_settled_as_unknown(home):
    """Another host judges a dead host's runner by its heartbeat and, without its journal,
    settles every claim as unknown. Seen with two hosts on PostgreSQL and kill -9: 11 unknown,
    8 of them in smtp-sink's mailbox, and the host back at start dropped its journal, which
    knew; `retry --unknown` would have sent those 8 twice."""
    from messagehub_tui.channels.base import Outcome
    from messagehub_tui.models import Runner
    from messagehub_tui.workers import queue
    settings, cid = make_home(home, "", count=5)
    control.launch(settings, cid, start=False)
    Campaign.update(status="running").where(Campaign.id == cid).execute()
    runner = Runner.create(campaign=cid, pid=2 ** 22 + 1, host="the-other-host",
                           heartbeat_at=0)
    claimed = queue.claim(cid, runner.id, 5)
    assert recover(settings) == [cid]  # as the other host: no journal here yet
    assert {d.status for d in Delivery.select()} == {"unknown"}
    retried = claimed[3]  # retry --unknown sent this one again since: not this runner's now
    Delivery.update(status="sent", runner_id=None, attempts=2).where(
        Delivery.id == retried.id).execute()
    kept = journal.Journal(journal.path_for(home, runner.id))  # the journal on the host back
    for number, outcome in ((0, Outcome.SENT), (1, None), (2, Outcome.RETRY), (3, Outcome.SENT)):
        kept.handed(claimed[number].id, claimed[number].attempts)
        if outcome is not None:
            kept.outcome(claimed[number].id, claimed[number].attempts, outcome)
    kept.close()
    recover(settings)
    states = {d.address: (d.status, d.attempts, d.error) for d in Delivery.select()}
    assert states[claimed[0].address] == ("sent", 1, None)
    assert [states[claimed[n].address][0] for n in (1, 2, 4)] == ["unknown"] * 3
    assert states[retried.address][:2] == ("sent", 2)
    counts = counts_add_up(cid)
    assert (counts["sent"], counts["unknown"]) == (2, 3), counts
    assert not journal.path_for(home, runner.id).exists()


def _no_write_in_flight(settings) -> bool:
    """SQLite: the write lock is free. PostgreSQL: no other session of this database is inside
    a transaction (this test's own connection is idle between statements)."""
    if settings.database.url:
        return db.execute_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state <> 'idle'").fetchone()[0] == 0
    probe = sqlite3.connect(settings.db_path, timeout=0.2, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def freeze_outside_a_write(pid: int, settings) -> None:
    """SIGSTOP the process at a moment it holds no write transaction. A process frozen inside
    one keeps SQLite's write lock (on PostgreSQL: the row locks it took), and other writers then
    wait for it (see the README's Guarantees): that is the engine's rule, not what this test is
    about."""
    for _ in range(100):
        os.kill(pid, signal.SIGSTOP)
        if _no_write_in_flight(settings):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the runner held a write transaction at every one of 100 tries")


def test_a_runner_frozen_past_its_heartbeat_stops_before_sending_again(home, monkeypatch):
    """SIGSTOP until declared dead, resume elsewhere, SIGCONT: the old runner sends nothing new."""
    from messagehub_tui.workers import registry
    stale = 5.0
    monkeypatch.setenv(registry.STALE_ENV, str(stale))
    monkeypatch.setattr(registry, "STALE_AFTER", stale)
    first, second = SmtpSink(), SmtpSink()
    try:
        total = 120
        settings, cid = make_home(home, smtp_toml(first.port, connections=2, rate=20),
                                  count=total)
        old = control.launch(settings, cid).runners[0]
        poll(lambda: campaigns.status(cid).counts.sent >= 5, what="first sends")
        freeze_outside_a_write(old.pid, settings)
        try:
            poll(lambda: recover(settings) == [cid], timeout=stale * 4, every=0.5,
                 what="the frozen runner declared dead")
            unknown_at_recovery = addresses(cid, "unknown")
            received_at_recovery = sum(first.recipients().values())
            (home / "messagehub.toml").write_text(smtp_toml(second.port, connections=2, rate=50))
            new = control.resume(settings, cid).runners[0]
            poll(lambda: Delivery.select().where(Delivery.runner_id.is_null(False)
                                                 & (Delivery.status == "sent")).count()
                 > 5 + len(first.recipients()), what="the new runner sending")
        finally:
            os.kill(old.pid, signal.SIGCONT)
        assert old.wait(timeout=30) == 0
        campaign = wait_status(cid, "completed", timeout=60)
        new.wait(timeout=30)
        late = sum(first.recipients().values()) - received_at_recovery
        received = first.recipients() + second.recipients()
        counts = counts_add_up(cid)
        log = (home / "logs" / f"campaign-{cid}.log").read_text()
        print(f"\nfrozen runner: {len(unknown_at_recovery)} unknown at recovery, {late} arrived "
              f"after it, duplicates {sum(n - 1 for n in received.values())}")
        assert campaign.finished_at is not None
        assert late <= len(unknown_at_recovery) <= 2
        assert all(n == 1 for n in received.values()), received.most_common(3)
        assert counts["sent"] + counts["unknown"] == total
        assert set(received) == addresses(cid, "sent") | (unknown_at_recovery & set(received))
        assert "declared dead" in log
        ids = {d.runner_id for d in Delivery.select().where(Delivery.status == "sent")}
        assert len(ids) == 2, ids
    finally:
        first.stop()
        second.stop()


def test_a_crash_in_one_lane_stops_the_others_before_the_channel_closes(home, smtp_server):
    """One recipient's data crashes a lane: the other lanes finish the message in hand and stop,
    nothing handed stays unknown, the bad row (never handed) is not unknown, and the campaign
    is not completed while a row is unsettled."""
    from messagehub_tui import contacts
    from messagehub_tui.config_load import load_settings
    from messagehub_tui.database import open_db
    port, handler = smtp_server
    handler.delay = 0.2
    (home / "messagehub.toml").write_text(smtp_toml(port, connections=4))
    settings = load_settings(home)
    open_db(settings.db_location)
    rows = ["email,score"] + [f"user{i}@example.com,{0 if i == 13 else i + 1}" for i in range(40)]
    (home / "people.csv").write_text("\n".join(rows) + "\n")
    contacts.import_csv(home / "people.csv", home, "people")
    cid = campaigns.create(settings, "crash", "email", "people", "{{ 1000 // (score|int) }}",
                           subject="s").id
    control.launch(settings, cid)
    campaign = wait_status(cid, "paused", "completed")
    counts = counts_add_up(cid)
    bad = Delivery.get(Delivery.address == "user13@example.com")
    received = handler.recipients()
    assert counts["unknown"] == 0 and counts["sending"] == 0, counts
    assert bad.status in ("pending", "failed"), bad.status
    assert campaign.status == "paused" or counts["pending"] == 0
    assert all(n == 1 for n in received.values())
    assert set(received) == addresses(cid, "sent")
    assert not journal.runner_ids(home)


class BuggyChannel:
    """A transport with a bug for one recipient (it raises instead of returning a result);
    it notes whether it was closed while a send was still running."""

    lanes = 4
    looks_ahead = False

    def __init__(self, bad: str):
        self.bad, self.busy, self.sent = bad, 0, []
        self.closed_while_busy = False

    async def open(self):
        return None

    async def send(self, lane, message, then=None):
        import asyncio

        from messagehub_tui.channels.base import Outcome, SendResult
        if message.recipient == self.bad:
            raise RuntimeError("transport bug")
        self.busy += 1
        try:
            await asyncio.sleep(0.3)
        finally:
            self.busy -= 1
        self.sent.append(message.recipient)
        return SendResult(Outcome.SENT, provider_id="ok")

    def abandon(self):
        return None

    async def close(self):
        self.closed_while_busy = self.busy > 0


async def test_a_lane_that_raises_is_not_left_running_when_the_channel_closes(home, monkeypatch):
    from messagehub_tui.workers import runner as runner_module
    settings, cid = make_home(home, "", count=40)
    control.launch(settings, cid, start=False)
    channel = BuggyChannel("user5@example.com")
    monkeypatch.setattr(runner_module, "make_transport", lambda *args: channel)
    status = await runner_module.CampaignRunner(settings, cid).run()
    counts = counts_add_up(cid)
    assert status == "paused" and not channel.closed_while_busy
    assert "runner crashed: RuntimeError: transport bug" in Campaign.get_by_id(cid).last_error
    assert Delivery.get(Delivery.address == "user5@example.com").status == "unknown"
    assert counts["unknown"] == 1 and counts["sending"] == 0
    assert addresses(cid, "sent") == set(channel.sent) and len(channel.sent) >= 3
    assert counts["pending"] == 40 - 1 - len(channel.sent)
    assert not journal.runner_ids(home)


def test_a_journal_from_another_boot_is_not_trusted(home, monkeypatch):
    """After a host crash the page cache is gone: its rows become unknown, never pending."""
    path = journal.path_for(home, 1)
    kept = journal.Journal(path)
    kept.handed(5, 1)
    kept.close()
    assert journal.read(path).marks == {5: (1, journal.Mark.HANDED)}
    monkeypatch.setattr(journal, "boot_id", lambda: "another-boot")
    assert journal.read(path) is None


def test_a_runner_dying_beside_a_live_one_leaves_an_event(home):
    # The walk: one of a campaign's two runners was killed; the other went on, the dead one's
    # claims were settled (some unknown), and the campaign's events never said a runner died.
    import time

    from messagehub_tui.models import Event, Runner
    from messagehub_tui.workers import queue
    settings, cid = make_home(home, "", count=5)
    control.launch(settings, cid, start=False)
    Campaign.update(status="running").where(Campaign.id == cid).execute()
    dead = Runner.create(campaign=cid, pid=2 ** 22 + 1, host=settings.host, heartbeat_at=0)
    Runner.create(campaign=cid, pid=1, host="another-host", heartbeat_at=time.time())
    claimed = queue.claim(cid, dead.id, 3)
    kept = journal.Journal(journal.path_for(home, dead.id))
    kept.handed(claimed[0].id, claimed[0].attempts)
    kept.close()
    assert recover(settings) == []  # the campaign goes on with its live runner
    said = [e.message for e in Event.select().where(Event.campaign == cid)]
    assert any(f"runner {dead.id} (pid {dead.pid}) stopped without finishing: 1 unknown, "
               "2 back to pending" in message for message in said), said
