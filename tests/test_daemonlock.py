"""Who serves a home: the daemon's lock answers, not a pid left in its file."""

from __future__ import annotations

import os

from messagehub_tui.cli_campaigns import unwatched_schedules
from messagehub_tui.workers.daemonlock import daemon_pid
from tests.engine import make_home
from tests.test_scheduling import start_daemon, stop_daemon


def test_a_pid_left_in_the_lock_file_names_no_daemon_even_when_alive(home):
    """A killed daemon leaves its pid behind; the pid may belong to a live process by now
    (here: this test's parent), which must not pass for the daemon."""
    settings, _ = make_home(home, count=1)
    (home / "daemon.lock").write_text(str(os.getppid()))
    assert daemon_pid(settings) is None


def test_a_running_daemon_is_named_by_its_pid(home):
    settings, _ = make_home(home, count=1)
    daemon = start_daemon(home)
    try:
        assert daemon_pid(settings) == daemon.pid
    finally:
        stop_daemon(daemon)
    assert daemon_pid(settings) is None


def test_a_schedule_that_nothing_will_fire_says_what_to_run(cli, home):
    """The walk: a campaign scheduled from the CLI (or left scheduled when the app closed) with
    no daemon running went out never, and nothing said so: it became "missed" hours later."""
    settings, cid = make_home(home, count=2)
    hint = ("a scheduled campaign goes out only while the app is open or a daemon runs for this "
            "home; start one "
            f"with `messagehub-tui --home {home} daemon` (in tmux or under systemd)")
    code, out, err = cli("schedule", str(cid), "--at", "+2h")
    assert (code, err) == (0, f"messagehub-tui: note: {hint}\n")
    assert [row.id for row in unwatched_schedules(settings)] == [cid]  # what the app's exit says
    daemon = start_daemon(home)
    try:
        code, out, err = cli("schedule", str(cid), "--at", "+3h")
        assert (code, err) == (0, "")
        assert unwatched_schedules(settings) == []
    finally:
        stop_daemon(daemon)


def test_the_apps_quit_note_lists_schedules_in_time_order(cli, home):
    settings, first = make_home(home, count=1)
    code, out, _ = cli("create", "--name", "second", "--channel", "email", "--list", "people",
                       "--subject", "s", "--body", str(home / "people.csv"))
    assert code == 0
    second = int(out)
    third = int(cli("create", "--name", "third", "--channel", "email", "--list", "people",
                    "--subject", "s", "--body", str(home / "people.csv"))[1])
    for campaign, when in ((first, "+2h"), (second, "+3h"), (third, "+1h")):
        assert cli("schedule", str(campaign), "--at", when)[0] == 0
    # newest id first before: third, second, first
    assert [row.id for row in unwatched_schedules(settings)] == [third, first, second]
