"""The daemon's lock file, `<home>/daemon.lock`: one daemon per home holds it and writes its pid
into it. Apart from the daemon so that the app and doctor can ask who serves a home without
loading the scheduler (APScheduler costs every command's start-up)."""

from __future__ import annotations

import fcntl
import os
from typing import TextIO

from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError


def acquire_lock(settings: Settings) -> TextIO:
    """Hold <home>/daemon.lock for the life of the process; a second daemon is told who has it."""
    path = settings.home / "daemon.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise MessagehubError(f"another daemon is already running for {settings.home} "
                              f"(pid {holder}); stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def daemon_pid(settings: Settings) -> int | None:
    """The pid of the daemon running for this home, or None.

    Read from the lock file, which the daemon writes its pid into and empties on its way out;
    a pid left by a daemon that was killed names no live process (a reused pid errs on the side
    of "a daemon runs").
    """
    try:
        text = (settings.home / "daemon.lock").read_text().strip()
    except OSError:
        return None
    if not text.isdigit() or int(text) == os.getpid():
        return None
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, someone else's
    return int(text)
