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

import functools
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType

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


def _on_tick(signum: int, frame: FrameType | None) -> None:
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
    check = _stop_check
    if check is None:
        return False
    try:
        return check()
    except Exception:  # a busy database, say: the next tick asks again
        return False


Handler = Callable[[int, FrameType | None], object] | int | None  # what signal.getsignal gives


class _Chained:
    """A signal's handler that runs the handler it replaced, then ends a render in progress in
    the main thread."""

    def __init__(self, previous: Handler) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if callable(self.previous):
            self.previous(signum, frame)
        if _state.depth and threading.get_ident() == _MAIN:
            raise RenderInterrupted


def stop_rendering_when(check: Callable[[], bool] | None,
                        signals: Iterable[signal.Signals] = ()) -> None:
    """Make renders in the main thread end with RenderInterrupted when `check()` turns true
    (asked every TICK of rendering) or when one of `signals` arrives. A signal's existing
    handler still runs first (asyncio's wake-up of its loop, for example)."""
    global _stop_check
    _stop_check = check
    for sig in signals:
        previous = signal.getsignal(sig)
        if not isinstance(previous, _Chained):  # chained once, however often this is called
            signal.signal(sig, _Chained(previous))


@functools.cache
def _install_tick_handler() -> None:
    """Once per process: nothing else here uses SIGPROF, and asking signal.getsignal on every
    message would cost more than the timer itself."""
    signal.signal(signal.SIGPROF, _on_tick)


class bounded:  # noqa: N801 (used as a function: `with bounded():`)
    """The time limit (and the interruptions) for everything rendered inside; re-entrant. A
    class rather than a generator: it wraps every message, and this is twice as cheap."""

    __slots__ = ("_main", "_outer")

    def __enter__(self) -> None:
        global _ticks
        self._outer = _state.depth == 0
        _state.depth += 1
        if not self._outer:
            return
        self._main = threading.get_ident() == _MAIN
        if self._main:
            _ticks = 0
            _install_tick_handler()
            _state.deadline = _NEVER
            signal.setitimer(signal.ITIMER_PROF, TICK, TICK)
        else:  # no timer for another thread: the hooks check its own CPU time
            _state.deadline = time.thread_time() + MAX_SECONDS

    def __exit__(self, *exc: object) -> None:
        if self._outer and self._main:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
        _state.depth -= 1
        if self._outer:
            _state.deadline = _NEVER


def check_deadline() -> None:
    """For hooks that run often during a render: end it once its time is up (any thread)."""
    deadline = _state.deadline
    if deadline != _NEVER and time.thread_time() > deadline:
        raise RenderTimeout
