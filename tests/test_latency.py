"""A runner asks the kernel for a short time slice, so a reply does not wait behind CPU hogs."""

from __future__ import annotations

import signal
from pathlib import Path

from messagehub_tui import control
from messagehub_tui.models import close_db
from messagehub_tui.workers.latency import SLICE_NS
from tests.engine import make_home, poll, wait_status
from tests.peers import require
from tests.scripted_smtp import ScriptedSmtp
from tests.test_engine_smtp import smtp_toml


def slice_of(pid: int) -> int | None:
    """The scheduler's slice of the process's main thread, from /proc (Linux 6.6+)."""
    try:
        lines = Path(f"/proc/{pid}/sched").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split(":")[1]) for line in lines if line.startswith("se.slice")), None)


def test_a_runner_asks_for_a_short_slice(home):
    require(slice_of(1) is not None, "Linux 6.12+ (EEVDF slices in /proc/PID/sched)")
    server = ScriptedSmtp(silent=True)  # the runner waits for a greeting that never comes
    try:
        settings, cid = make_home(home, smtp_toml(server.port, connections=1), count=3)
        runner, = control.launch(settings, cid).runners
        poll(lambda: slice_of(runner.pid) == SLICE_NS, timeout=30,
             what=f"the runner's slice to be {SLICE_NS} ns (it is {slice_of(runner.pid)})")
        runner.send_signal(signal.SIGTERM)
        wait_status(cid, "paused")
        runner.wait(timeout=30)
    finally:
        server.stop()
        close_db()
