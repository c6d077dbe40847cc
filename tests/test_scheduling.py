"""Scheduled sends: WHEN parsing, a real daemon, a racing scheduler, misfires, SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from messagehub_tui import campaigns, control
from messagehub_tui.config_load import load_settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Campaign, Event, utcnow
from messagehub_tui.timefmt import parse_when
from messagehub_tui.workers.daemonlock import daemon_pid
from messagehub_tui.workers.scheduler import CampaignScheduler
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.test_engine_smtp import smtp_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

NOW = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("text, utc", [
    ("2027-03-13 12:00", "2027-03-13 17:00"),
    ("2027-03-14 03:30", "2027-03-14 07:30"),
    ("2027-03-15 12:00", "2027-03-15 16:00"),
    ("2027-11-06 12:00", "2027-11-06 16:00"),
    ("2027-11-07 01:30", "2027-11-07 05:30"),
    ("2027-11-08 12:00", "2027-11-08 17:00"),
    ("2027-06-01T09:00+02:00", "2027-06-01 07:00"),
    ("2027-06-01T09:00Z", "2027-06-01 09:00"),
    ("+90s", "2027-01-01 00:01:30"),
    ("+10m", "2027-01-01 00:10"),
    ("+2h", "2027-01-01 02:00"),
    ("+1d", "2027-01-02 00:00"),
])
def test_when_is_stored_in_utc_across_daylight_saving(new_york, text, utc):
    assert parse_when(text, NOW) == datetime.fromisoformat(utc)


@pytest.mark.parametrize("text, message", [
    ("2027-03-14 02:30", "does not exist in local time"),
    ("2026-12-31 10:00", "is in the past"),
    ("soon", "cannot read the time"),
])
def test_bad_when_is_refused_clearly(new_york, text, message):
    with pytest.raises(MessagehubError, match=message):
        parse_when(text, NOW)


def test_cli_schedule_and_clear(cli, home):
    settings, cid = make_home(home, "", count=2)
    code, out, _ = cli("schedule", str(cid), "--at", "+2h")
    assert code == 0 and "scheduled for" in out and "in 1h59m" in out
    campaign = Campaign.get_by_id(cid)
    assert campaign.status == "scheduled"
    assert abs((campaign.scheduled_at - utcnow()).total_seconds() - 7200) < 60
    code, _, err = cli("schedule", str(cid), "--at", "2001-01-01 10:00")
    assert code == 1 and "is in the past" in err
    code, out, _ = cli("schedule", str(cid), "--clear")
    assert code == 0 and Campaign.get_by_id(cid).status == "draft"
    body = home / "b.txt"
    body.write_text("hi")
    code, out, _ = cli("create", "--name", "later", "--channel", "email", "--list", "people",
                       "--subject", "s", "--body", str(body), "--at", "+1d")
    assert code == 0 and Campaign.get_by_id(int(out)).status == "scheduled"


def start_daemon(home, *options: str, host: str | None = None) -> subprocess.Popen:
    """A daemon process, returned once it holds the home's lock and said where it logs."""
    env = {**os.environ, "MESSAGEHUB_HOST_ID": host} if host else None
    process = subprocess.Popen([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                                "daemon", *options], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    first = process.stdout.readline()
    assert first == (f"messagehub-tui daemon for {home} on host {host or load_settings(home).host}"
                     f" (pid {process.pid}): logging to {home / 'logs' / 'daemon.log'}; stop it "
                     "with Ctrl-C or SIGTERM\n"), \
        (first, process.poll() is not None and process.communicate())
    return process


def wait_through(campaign_id: int, expected: str, passing: set[str], timeout: float = 60.0):
    """Wait for `expected`, allowing the states the daemon moves the campaign through first
    (a paused campaign it is about to resume, an interrupted one it is about to restart)."""
    def check():
        campaign = Campaign.get_by_id(campaign_id)
        if campaign.status == expected:
            return campaign
        allowed = passing | {"queued", "running", "scheduled"}
        assert campaign.status in allowed, (campaign.status, campaign.last_error)
        return None
    return poll(check, timeout, what=f"campaign {campaign_id} {expected}")


def a_whole_daemon_sync(settings) -> None:
    """Wait until the running daemon has made a whole sync (supervision, then schedules) that
    began after this call. A sync marks missed a campaign scheduled an hour ago (past the grace),
    in its schedules part: the first probe shows a sync that may have supervised before the call,
    the second one a sync begun after the first probe was missed."""
    for probe in range(2):
        probe_id = campaigns.create(settings, f"sync probe {probe}", "email", "people",
                                    "probe", subject="probe").id
        Campaign.update(status="scheduled", scheduled_at=utcnow() - timedelta(hours=1)) \
            .where(Campaign.id == probe_id).execute()
        poll(lambda probe_id=probe_id: Campaign.get_by_id(probe_id).status == "missed", 60,
             what=f"sync probe {probe} missed")


def stop_daemon(process) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def daemon_log(home) -> str:
    return (home / "logs" / "daemon.log").read_text()


# [schedule] restart_delays for the tests of runners that keep dying: the back-off itself is
# tested with the ones of test_daemon_backs_off_then_pauses_a_campaign_whose_runners_keep_dying
QUICK_RESTARTS = "restart_delays = [\"0.1s\", \"0.1s\"]\n"


def test_daemon_fires_a_schedule_set_from_the_cli_once_despite_a_racing_scheduler(
        cli, home, smtp_server):
    port, handler = smtp_server
    settings, cid = make_home(home, smtp_toml(port), count=5)
    daemon = start_daemon(home)
    racer = CampaignScheduler(settings)
    racer.start()
    try:
        assert cli("schedule", str(cid), "--at", "+3s")[0] == 0
        wait_status(cid, "completed", timeout=60)
        assert handler.recipients() == {f"user{i}@example.com": 1 for i in range(5)}
        launches = Event.select().where((Event.campaign == cid)
                                        & Event.message.startswith("launched")).count()
        assert launches == 1
        def by_daemon() -> bool:
            return f"campaign {cid}: campaign {cid} launched" in daemon_log(home)
        # each launcher says it launched once its launch returned: the runners may be done first
        poll(lambda: by_daemon() or cid in racer.launched, what="the launcher's word")
        assert by_daemon() != (cid in racer.launched)
    finally:
        racer.shutdown()
        stop_daemon(daemon)


def test_shutting_down_while_a_sync_changes_jobs_does_not_hang(home):
    # Seen on this walk as a 300 s hang of the racing-scheduler test: APScheduler's shutdown
    # holds its job-store lock while it waits for running jobs, and a sync under way then
    # removed a job, waiting for that lock for ever (a daemon hung on SIGTERM, an app on quit).
    import threading
    settings, _ = make_home(home, "", count=1)
    scheduler = CampaignScheduler(settings, supervise=False)
    scheduler.start()
    entered, release = threading.Event(), threading.Event()

    def held_up() -> None:
        entered.set()
        release.wait()
    scheduler.known[999] = utcnow()  # a job the next sync removes, as for a cleared schedule
    scheduler._supervise, scheduler.supervise = held_up, True
    entered.wait()  # the interval sync is under way
    stopping = threading.Thread(target=scheduler.shutdown)
    stopping.start()
    store_lock = scheduler.scheduler._jobstores_lock  # APScheduler's, held through its shutdown

    def held_by_shutdown() -> bool:
        if store_lock.acquire(blocking=False):
            store_lock.release()
            return False
        return True
    poll(held_by_shutdown, what="the shutdown waiting for the sync")
    release.set()
    stopping.join()  # (before the fix: never; pytest-timeout fails the test)
    assert not scheduler.scheduler.running


def test_a_schedule_cleared_from_the_cli_does_not_fire(cli, home):
    settings, cid = make_home(home, "", count=2)
    daemon = start_daemon(home)
    try:
        cli("schedule", str(cid), "--at", "+8s")
        poll(lambda: f"campaign {cid} scheduled for" in daemon_log(home), 20,
             what="daemon to see the schedule")
        cli("schedule", str(cid), "--clear")
        poll(lambda: f"campaign {cid} unscheduled" in daemon_log(home), 20,
             what="daemon to see the clear")
        deadline = Campaign.get_by_id(cid).updated_at + timedelta(seconds=10)
        poll(lambda: utcnow() > deadline, 20, what="the old time to pass")
        assert Campaign.get_by_id(cid).status == "draft"
        assert not (home / "outbox").exists()
    finally:
        stop_daemon(daemon)


def test_second_daemon_exits_with_a_clear_message(home):
    make_home(home, "", count=1)
    first = start_daemon(home)
    try:
        second = subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home),
                                 "daemon"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert f"another daemon is already running for {home}" in second.stderr
        assert f"pid {first.pid}" in second.stderr
    finally:
        stop_daemon(first)


@pytest.mark.parametrize("late, expected", [(timedelta(minutes=5), "completed"),
                                            (timedelta(hours=1), "missed")])
def test_misfire_grace_at_daemon_start(home, late, expected):
    settings, cid = make_home(home, "", count=3)
    Campaign.update(status="scheduled", scheduled_at=utcnow() - late).where(
        Campaign.id == cid).execute()
    daemon = start_daemon(home)
    try:
        campaign = wait_status(cid, expected, timeout=60)
        if expected == "missed":
            assert Campaign.get_by_id(cid).started_at is None
            # told after the state changed: wait for it rather than look once
            poll(lambda: "missed" in daemon_log(home) or Event.select().where(
                Event.message.startswith("missed")).count() == 1, what="the miss told")
            assert control.launch(settings, cid).started
            wait_status(cid, "completed")
        assert campaign.status == expected
    finally:
        stop_daemon(daemon)


def test_sigterm_to_the_daemon_pauses_then_restart_resumes(home, smtp_server):
    port, handler = smtp_server
    # the server holds the messages after the fifth until the stop is under way: the campaign
    # is mid-way when the daemon stops however slow the machine (at 20/s it could finish first)
    handler.hold_after = 5
    settings, cid = make_home(home, smtp_toml(port, timeout="60s"), count=40, rate=20)
    daemon = start_daemon(home)
    control.launch(settings, cid)
    poll(lambda: len(handler.recipients()) >= 5, what="first sends")
    daemon.send_signal(signal.SIGTERM)
    # SQLite: the daemon asked for the pause; PostgreSQL: the runner heard it is to leave
    poll(lambda: Event.select().where((Event.campaign == cid) & (
        Event.message.contains("the daemon is stopping")
        | Event.message.contains("is leaving with its host's daemon"))).exists(),
         what="the stop under way")
    handler.released.set()
    assert daemon.wait(timeout=60) == 0
    paused = Campaign.get_by_id(cid)
    assert paused.status == "paused" and paused.auto_resume == 1
    # on both engines, though on PostgreSQL the daemon does not pause: its runners leave, and
    # the last one out pauses the campaign (registry.settle)
    said = [event.message for event in Event.select().where(Event.campaign == cid)]
    assert said.count("the daemon is stopping: paused, to resume at its next start") == 1, said
    assert said.index("the daemon is stopping: paused, to resume at its next start") \
        < said.index("campaign paused"), said
    sent_before = counts_add_up(cid)["sent"]
    assert 5 <= sent_before < 40
    daemon = start_daemon(home)
    try:
        wait_through(cid, "completed", passing={"paused"})
        assert counts_add_up(cid)["sent"] == 40
        assert handler.recipients() == {f"user{i}@example.com": 1 for i in range(40)}
        assert Campaign.get_by_id(cid).auto_resume == 0
    finally:
        stop_daemon(daemon)


def test_a_hangup_stops_the_daemon_cleanly(home):
    """Closing the tmux window the daemon runs in sends SIGHUP: a clean stop, as SIGTERM."""
    make_home(home, "", count=1)
    daemon = start_daemon(home)
    daemon.send_signal(signal.SIGHUP)
    assert daemon.wait(timeout=60) == 0
    assert "daemon stopped" in daemon_log(home)
    assert daemon_pid(load_settings(home)) is None


@pytest.mark.parametrize("resume, expected", [(True, "completed"), (False, "interrupted")])
def test_daemon_recovers_interrupted_campaigns_at_start(home, smtp_server, resume, expected):
    from messagehub_tui.models import Runner
    port, handler = smtp_server
    toml = smtp_toml(port) + f"[schedule]\nresume_interrupted = {str(resume).lower()}\n"
    settings, cid = make_home(home, toml, count=10)
    control.launch(settings, cid, start=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    Runner.create(campaign=cid, pid=gone.pid, host=settings.host, heartbeat_at=time.time())
    Campaign.update(status="running").where(Campaign.id == cid).execute()
    daemon = start_daemon(home)
    try:
        wait_through(cid, expected, passing={"interrupted"})
        if resume:
            assert len(handler.recipients()) == 10
        else:
            poll(lambda: "resume" not in daemon_log(home) and Event.select().where(
                Event.message.startswith("interrupted")).count() == 1, 10,
                 what="interruption recorded")
            assert handler.recipients() == {}
    finally:
        stop_daemon(daemon)


def test_a_daemon_whose_runners_cannot_start_pauses_the_campaign_saying_why(home, smtp_server):
    """Runners that die before registering (a stray `messagehub_tui.py` in the home, their
    working directory, shadows the package) are noticed at the daemon's next sync, not after
    STALE_AFTER, and the pause after the third death says why they died."""
    port, handler = smtp_server
    toml = smtp_toml(port) + f"[schedule]\nresume_interrupted = true\n{QUICK_RESTARTS}"
    settings, cid = make_home(home, toml, count=5)
    (home / "messagehub_tui.py").write_text("")
    control.schedule(settings, cid, utcnow() + timedelta(seconds=1))
    daemon = start_daemon(home)
    try:
        campaign = poll(lambda: (c := Campaign.get_by_id(cid)).status == "paused" and c,
                        60, what="campaign paused")
        assert campaign.last_error.startswith(
            "its runners died 3 times in a row, so the daemon stopped restarting it (the last "
            "time: its runner exited with status 1 before sending: ")
        assert "'messagehub_tui' is not a package" in campaign.last_error
        assert handler.recipients() == {}
    finally:
        stop_daemon(daemon)


def test_daemon_backs_off_then_pauses_a_campaign_whose_runners_keep_dying(home, smtp_server):
    import os

    from messagehub_tui.models import Runner
    port, _ = smtp_server
    # shorter than the defaults (5 s, 20 s), still longer than a sync or a runner's start, so
    # a restart without the back-off would come sooner
    delays = (3.0, 6.0)
    toml = smtp_toml(port) + ("[schedule]\nresume_interrupted = true\n"
                              "restart_delays = [\"3s\", \"6s\"]\n")
    settings, cid = make_home(home, toml, count=200, rate=2)
    daemon = start_daemon(home)
    try:
        control.launch(settings, cid)
        killed_at = []
        for death in range(len(delays) + 1):
            runner = poll(lambda: Runner.get_or_none(Runner.campaign == cid),
                          what=f"runner {death + 1}")
            if killed_at:
                waited = time.monotonic() - killed_at[-1]
                print(f"\nrestart {death} came {waited:.1f} s after the death")
                assert waited >= delays[death - 1]
            os.kill(runner.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())
            poll(lambda gone=runner.id: Runner.get_or_none(Runner.id == gone) is None,
                 what="recovery")
        campaign = poll(lambda: (c := Campaign.get_by_id(cid)).status == "paused" and c, 30,
                        what="campaign paused")
        assert campaign.last_error == (
            f"its runners died 3 times in a row, so the daemon stopped restarting it; "
            f"see logs/campaign-{cid}.log, then resume it")
        a_whole_daemon_sync(settings)  # whose supervision did not restart it
        said = daemon_log(home)
        assert f"campaign {cid} interrupted: its runner died (1 in a row); restarting it in 3 s" \
            in said and "(2 in a row); restarting it in 6 s" in said, said
        assert Campaign.get_by_id(cid).status == "paused" and Runner.select().count() == 0
        paused = f"paused: {campaign.last_error}"
        assert Event.select().where((Event.campaign == cid)
                                    & (Event.message == paused)).count() == 1
    finally:
        stop_daemon(daemon)
    assert Campaign.get_by_id(cid).auto_resume == 0


def test_schedule_and_miss_events_name_the_time_as_everywhere_else(home, new_york):
    # The monitor's events read "scheduled for 2026-12-02T03:43:49.642043Z" and "missed: its
    # time 2026-12-02T03:49:14.710335Z passed more than 900 s ago": raw UTC with microseconds,
    # where every other place shows local time with its zone.
    settings, cid = make_home(home, "", count=1)
    at = datetime(2030, 7, 1, 13, 0, 0, 123456)  # stored naive UTC: 09:00 in New York
    control.schedule(settings, cid, at)
    assert control.mark_missed(settings, cid, at)
    messages = [e.message for e in Event.select().where(Event.campaign == cid).order_by(Event.id)]
    assert messages[-2:] == [
        "scheduled for 2030-07-01 09:00 EDT",
        "missed: its time 2030-07-01 09:00 EDT passed more than 15m 00s ago while nothing was "
        "running; launch it by hand"]


def test_a_missed_campaign_scheduled_again_no_longer_shows_the_miss_as_its_error(home):
    # The monitor said "scheduled: it launches by itself…" above a red "missed: … launch it by
    # hand" once the campaign had been given a new time.
    from messagehub_tui import views

    settings, cid = make_home(home, "", count=1)
    at = utcnow() + timedelta(hours=1)
    control.schedule(settings, cid, at)
    assert control.mark_missed(settings, cid, at)
    assert [e.message[:7] for e in views.monitor_data(cid).errors] == ["missed:"]
    control.schedule(settings, cid, utcnow() + timedelta(hours=2))
    assert views.monitor_data(cid).errors == []


def test_a_campaign_created_with_a_time_logs_it_as_schedule_does(home, new_york):
    # `create --at` left no "scheduled for" event: its log began with "missed" or "launched".
    settings, _ = make_home(home, "", count=1)
    at = datetime(2030, 7, 1, 13, 0)
    created = campaigns.create(settings, "later", "email", "people", "Hi", subject="s",
                               scheduled_at=at)
    assert [e.message for e in Event.select().where(Event.campaign == created.id)] == [
        "scheduled for 2030-07-01 09:00 EDT"]
    assert "scheduled for 2030-07-01 09:00 EDT" in (
        home / "logs" / f"campaign-{created.id}.log").read_text()
