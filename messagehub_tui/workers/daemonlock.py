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

    Asked of the lock itself: only a live daemon holds it (the kernel lets go when its process
    ends, however it ends), so a pid left in the file by a killed daemon, even one some other
    process reuses now, names no daemon. The pid is read from the file the daemon wrote it into.
    """
    try:
        handle = (settings.home / "daemon.lock").open()
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a daemon runs
            text = handle.read().strip()
            return int(text) if text.isdigit() and int(text) != os.getpid() else None
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None
