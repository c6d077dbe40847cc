"""Bounds on rendering one message: CPU time, and interruption by a stop request or a signal.

A template is user input that runs as Python; a loop of 10^10 iterations never returns by itself.
In the main thread a CPU-time interval timer (ITIMER_PROF, so a loaded machine does not fail a
render that merely waited for a core) ticks every TICK seconds while a render runs; each tick
checks the time limit and the caller's stop condition and raises inside the render. Signals the
caller names (SIGTERM in a runner) raise too, so they act at once whatever a template does. Other
threads cannot be interrupted: there the sandbox's hooks (calls, attributes, operators, `range`,
output chunks) check the thread's CPU time instead.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_SECONDS = 1.0
MAX_CHARS = 2_000_000
TICK = 0.1
_MAIN = threading.main_thread().ident
_NEVER = float("inf")


class RenderStopped(BaseException):
    """Raised inside a render to end it. A BaseException, so that no `except Exception` in a
    filter or in Jinja itself can swallow it and let the render run on."""


class RenderTimeout(RenderStopped):
    """The render used more than MAX_SECONDS."""


class RenderInterrupted(RenderStopped):
    """A stop (pause, cancel, a signal) was requested while a message was being rendered."""


class _State(threading.local):
    depth = 0
    deadline = _NEVER


_state = _State()
_ticks = 0
_stop_check: Callable[[], bool] | None = None


def _on_tick(signum, frame) -> None:
    """SIGPROF while the main thread renders: enforce the time limit, honour a stop request."""
    global _ticks
    if _state.depth == 0:
        return
    _ticks += 1
    if _ticks * TICK >= MAX_SECONDS:
        raise RenderTimeout
    if _stop_check is not None and _asks_to_stop():
        raise RenderInterrupted


def _asks_to_stop() -> bool:
    try:
        return _stop_check()
    except Exception:  # a busy database, say: the next tick asks again
        return False


def stop_rendering_when(check: Callable[[], bool] | None, signals=()) -> None:
    """Make renders in the main thread end with RenderInterrupted when `check()` turns true
    (asked every TICK of rendering) or when one of `signals` arrives. A signal's existing
    handler still runs first (asyncio's wake-up of its loop, for example)."""
    global _stop_check
    _stop_check = check
    for sig in signals:
        previous = signal.getsignal(sig)
        if getattr(previous, "interrupts_renders", False):
            continue

        def chained(signum, frame, previous=previous):
            if callable(previous):
                previous(signum, frame)
            if _state.depth and threading.get_ident() == _MAIN:
                raise RenderInterrupted
        chained.interrupts_renders = True
        signal.signal(sig, chained)


@contextmanager
def bounded() -> Iterator[None]:
    """The time limit (and the interruptions) for everything rendered inside; re-entrant."""
    global _ticks
    if _state.depth:
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    main = threading.get_ident() == _MAIN
    if main:
        _ticks = 0
        if signal.getsignal(signal.SIGPROF) is not _on_tick:
            signal.signal(signal.SIGPROF, _on_tick)
    # the main thread has the timer; another thread checks its own CPU time in the hooks
    _state.deadline = _NEVER if main else time.thread_time() + MAX_SECONDS
    _state.depth = 1
    if main:
        signal.setitimer(signal.ITIMER_PROF, TICK, TICK)
    try:
        yield
    finally:
        if main:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
        _state.depth = 0
        _state.deadline = _NEVER


def check_deadline() -> None:
    """For hooks that run often during a render: end it once its time is up (any thread)."""
    deadline = _state.deadline
    if deadline != _NEVER and time.thread_time() > deadline:
        raise RenderTimeout
