"""Who serves a home: the daemon's lock answers, not a pid left in its file."""

from __future__ import annotations

import os

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
