"""Templates that fail or run away, on real runner processes, real signals and the real CLI."""

import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from messagehub_tui import campaigns, contacts, control
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.models import Campaign, Delivery, Runner
from messagehub_tui.render_limits import MAX_SECONDS
from messagehub_tui.workers.supervisor import start_runners
from tests.engine import counts_add_up, poll, wait_status
from tests.test_engine_smtp import smtp_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

RUNAWAY = ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
           "Hi {{ first_name }}")


def score_home(home, toml: str, scores, body: str, subject: str = "Hi {{ first_name }}"):
    """A home whose contacts carry a `score` column, and one email campaign; (settings, id)."""
    (home / "messagehub.toml").write_text(toml, encoding="utf-8")
    settings = load_settings(home)
    open_db(settings.db_location)
    rows = ["email,first_name,score"] + [f"user{i}@example.com,User{i},{score}"
                                         for i, score in enumerate(scores)]
    (home / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    contacts.import_csv(home / "people.csv", home, "people")
    return settings, campaigns.create(settings, "t", "email", "people", body,
                                      subject=subject).id


def cli(home, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "messagehub_tui", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def reap():
    """Runner processes a test started; any still alive at the end (a failed test) are killed."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def children_cpu_seconds() -> float:
    """User plus system CPU time of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_zero_score_fails_one_recipient_and_the_campaign_completes(home, smtp_server, reap):
    port, handler = smtp_server
    settings, cid = score_home(home, smtp_toml(port), [5, 0, 2, 4],
                               "Your ratio: {{ 1000 // (score|int) }}\n")
    reap.extend(control.launch(settings, cid).runners)
    campaign = wait_status(cid, "completed")
    assert "ZeroDivisionError" in campaign.last_error  # the latest failure, kept for status
    counts = counts_add_up(cid)
    assert (counts["sent"], counts["failed"]) == (3, 1)
    assert handler.recipients() == {"user0@example.com": 1, "user2@example.com": 1,
                                    "user3@example.com": 1}
    failed = Delivery.get((Delivery.campaign == cid) & (Delivery.status == "failed"))
    assert failed.address == "user1@example.com"
    assert failed.error == "body: integer division or modulo by zero (ZeroDivisionError)"


def test_dry_run_names_the_address_of_each_problem(home):
    _, cid = score_home(home, "", [5, 0, 2, "x"],
                               "{{ 1000 // (score|int) }} {{ 'ab' * 10**7 if score == '5' }}")
    result = cli(home, "send", str(cid), "--dry-run")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "user0@example.com: body: the repeated value is larger than the limit of 2,000,000 "
        "characters",
        "user1@example.com: body: integer division or modulo by zero (ZeroDivisionError)",
        "user3@example.com: body: integer division or modulo by zero (ZeroDivisionError)",
    ]
    assert "dry run: 1 messages rendered, 3 problems, nothing sent" in result.stdout


# The render limits are the engine's business nowhere: SQLite alone (on PostgreSQL too, the
# runaway case alone cost ~30 s of the loaded suite for nothing more).
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("body, reason", [
    ("{{ range(10**9)|length }}", "body: range of 1,000,000,000 numbers is larger than the "
                                  "limit of 100,000"),
    ("{{ 'x' * 10**10 }}", "body: the repeated value is larger than the limit of 2,000,000 "
                           "characters"),
    (RUNAWAY, "body: rendering took more than 1 s of CPU time; does a loop in the template run "
              "too long?"),
])
def test_huge_templates_give_one_line_in_preview_send_test_and_dry_run(home, body, reason):
    _, cid = score_home(home, "", [1, 2, 3, 4, 5], body)
    for args, expected in [
        (("preview", str(cid)), f"cannot render the message for user0@example.com: {reason}"),
        (("send-test", str(cid), "--to", "me@example.com"),
         f"cannot render the test message: {reason}"),
    ]:
        before = children_cpu_seconds()
        result = cli(home, *args, timeout=30)
        assert (result.returncode, result.stderr) == (1, f"messagehub-tui: {expected}\n"), args
        # One render, cut at its limit: the command's CPU time (its start-up included), which
        # unlike wall time does not grow with the machine's load. Rendering for each recipient,
        # or a render past its limit, would cost several times MAX_SECONDS.
        spent = children_cpu_seconds() - before
        assert spent < 2 * MAX_SECONDS, (args, spent)
    dry = cli(home, "send", str(cid), "--dry-run", timeout=30)
    assert dry.returncode == 1 and "Traceback" not in dry.stderr
    lines = dry.stderr.splitlines()
    assert lines[0] == f"user0@example.com: {reason}"
    if body == RUNAWAY:  # three slow ones are enough to blame the template
        assert len(lines) == 4 and lines[3].startswith("the rest: not rendered: 3 messages")
    else:
        assert len(lines) == 5
    assert Campaign.get_by_id(cid).status == "draft"


def runaway_runner(home, smtp_server, reap, toml_extra=""):
    """A launched campaign whose single runner is inside a runaway render; (settings, id,
    runner)."""
    port, _ = smtp_server
    toml = smtp_toml(port, connections=1) + toml_extra
    settings, cid = score_home(home, toml, range(5), RUNAWAY)
    runner = control.launch(settings, cid).runners[0]
    reap.append(runner)
    # a runner burns CPU only while it renders, so CPU time means "inside the render"
    poll(lambda: runner.poll() is not None or cpu_seconds(runner.pid) >= 0.6, 30,
         what="runner rendering")
    assert runner.poll() is None
    return settings, cid, runner


def test_sigterm_ends_a_runaway_render_within_a_second(home, smtp_server, reap):
    _, cid, runner = runaway_runner(home, smtp_server, reap)
    sent_at = time.monotonic()
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 0
    took = time.monotonic() - sent_at
    print(f"\nSIGTERM during a runaway render: runner exited after {took * 1000:.0f} ms "
          f"({os.cpu_count()} cores)")
    campaign = wait_status(cid, "paused")
    # The signal ended the render: left to its CPU limit (0.4 s of CPU away, seconds of wall
    # time on a busy machine) it would have failed its recipient first.
    assert counts_add_up(cid)["failed"] == 0
    assert campaign.stop_request == ""
    counts = counts_add_up(cid)
    assert counts["sending"] == 0 and counts["pending"] == 5 and counts["unknown"] == 0


def test_pause_ends_a_runaway_render_within_a_second(home, smtp_server, reap):
    settings, cid, runner = runaway_runner(home, smtp_server, reap)
    asked_at = time.monotonic()
    control.pause(settings, cid)
    assert runner.wait(timeout=30) == 0
    took = time.monotonic() - asked_at
    print(f"\npause during a runaway render: runner exited after {took * 1000:.0f} ms "
          f"({os.cpu_count()} cores)")
    wait_status(cid, "paused")
    # The pause ended the render: left to its CPU limit it would have failed its recipient.
    counts = counts_add_up(cid)
    assert counts["sent"] == 0 and counts["failed"] == 0


def test_runaway_renders_fail_their_recipients_until_the_streak_pauses(home, smtp_server, reap):
    _, cid, runner = runaway_runner(home, smtp_server, reap, "failure_streak = 2\n")
    assert runner.wait(timeout=60) == 0
    campaign = wait_status(cid, "paused")
    assert "the last 2 attempts all failed" in campaign.last_error
    assert "rendering took more than 1 s of CPU time" in campaign.last_error
    counts = counts_add_up(cid)
    assert counts["failed"] == 2 and counts["pending"] == 3 and counts["sent"] == 0
    assert Runner.select().count() == 0


def test_an_absurd_rate_sends_without_building_slot_lists(home, smtp_server, reap):
    port, handler = smtp_server
    settings, cid = score_home(home, smtp_toml(port), range(20), "Hi {{ first_name }}")
    control.launch(settings, cid, start=False)
    # Configuration and --rate refuse such a rate; a database written by an older version may
    # still hold one, and the runner must not build a slot list for it.
    Campaign.update(rate=1e308).where(Campaign.id == cid).execute()
    runner = start_runners(settings, cid)[0]
    reap.append(runner)
    wait_status(cid, "completed", timeout=60)
    assert runner.wait(timeout=10) == 0
    assert len(handler.recipients()) == 20
