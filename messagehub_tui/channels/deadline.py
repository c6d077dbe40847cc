"""A connection's time limit for each exchange, as `asyncio.timeout` but with one timer a timeout
period instead of one per exchange."""

from __future__ import annotations

import asyncio
from types import TracebackType

# A timer may run this much before its time (the loop's clock resolution): within it, it counts.
EARLY = 0.001


class Deadline:
    """`with deadline:` around an exchange raises TimeoutError when it takes longer than
    `seconds`, cancelling the task as `asyncio.timeout` does (and with its 3.11 semantics: an
    outside cancellation that comes at the same moment stays a cancellation).

    A runner's lane does one exchange per message: `asyncio.timeout` made, scheduled and
    cancelled a timer for each (6 % of a runner's time). Here a timer runs only while exchanges
    go on, and when it fires it moves itself to the current exchange's deadline if that is later
    (after the last exchange it fires once more, finds none, and stops). One Deadline serves one
    connection: its exchanges never overlap."""

    __slots__ = ("seconds", "_due", "_handle", "_task", "_expiring")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._due = 0.0  # 0.0 while no exchange is under way
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._expiring = False

    def __enter__(self) -> Deadline:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task(loop)
        self._due = loop.time() + self.seconds
        if self._handle is None:
            self._handle = loop.call_at(self._due, self._fire, loop)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._due = 0.0
        if self._expiring:
            self._expiring = False
            if self._task is not None and self._task.uncancel() == 0 and \
                    exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        if not self._due:
            return  # no exchange now: the next one starts a timer
        if loop.time() + EARLY < self._due:  # a later exchange than the one it was set for
            self._handle = loop.call_at(self._due, self._fire, loop)
            return
        if self._task is not None:
            self._expiring = True
            self._task.cancel()
