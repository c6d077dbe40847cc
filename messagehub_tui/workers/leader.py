"""Which daemon fires schedules when several hosts share one PostgreSQL database: the one holding
a session advisory lock on a connection of its own.

PostgreSQL releases a session lock when the session ends, and a session ends when its
connection does: at once when the holder's process dies (its kernel closes the socket), and
within the keepalive time when its host dies or drops off the network (nothing closes the
socket then, so the server's keepalive probes must find it dead). Those probes are the server's
(`tcp_keepalives_*`, `tcp_user_timeout`, set for this session through `options`); the client's
own (`keepalives_*`) let the holder notice a dead link as quickly. Both are sized to free the
lock well within the runners' heartbeat timeout.

On SQLite there is no election: the home's daemon lock already makes one daemon.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from messagehub_tui.config import Settings
from messagehub_tui.models import db
from messagehub_tui.workers import registry

if TYPE_CHECKING:
    import psycopg

# One lock per database; the key is fixed so that every version of the tool agrees on it.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"messagehub-tui scheduler").digest()[:8], "big",
                          signed=True)
RETRY_EVERY = 3.0
log = logging.getLogger("messagehub.leader")


@dataclass(frozen=True)
class Keepalive:
    """TCP keepalive timing for the lock's connection, in whole seconds."""

    idle: int
    interval: int
    count: int

    @property
    def gone_after(self) -> int:
        """Seconds of silence after which a dead peer's connection is closed."""
        return self.idle + self.interval * self.count

    @classmethod
    def within(cls, seconds: float) -> Keepalive:
        """Probes that give up on a silent peer in about half of `seconds`."""
        budget = max(3, int(seconds / 2))
        interval = max(1, budget // 6)
        return cls(idle=max(1, budget - 3 * interval), interval=interval, count=3)

    def connect_options(self) -> dict[str, str | int]:
        """libpq parameters: the client's probes, and the server's through `options`."""
        server = (f"-c tcp_keepalives_idle={self.idle} "
                  f"-c tcp_keepalives_interval={self.interval} "
                  f"-c tcp_keepalives_count={self.count} "
                  f"-c tcp_user_timeout={self.gone_after * 1000}")
        return {"keepalives": 1, "keepalives_idle": self.idle,
                "keepalives_interval": self.interval, "keepalives_count": self.count,
                "tcp_user_timeout": self.gone_after * 1000, "connect_timeout": self.gone_after,
                "options": server}


class Leadership(Protocol):
    """What the scheduler asks before firing: does this daemon lead now?"""

    def held(self) -> bool: ...

    def close(self) -> None: ...


class Always:
    """SQLite: the one daemon of the home is the leader."""

    def held(self) -> bool:
        return True

    def close(self) -> None:
        pass


class AdvisoryLock:
    """Leadership through `pg_try_advisory_lock` on a dedicated autocommit connection; a daemon
    that does not hold it tries again every RETRY_EVERY seconds, so one takes over when the
    leader's session ends."""

    def __init__(self, url: str, host: str, keepalive: Keepalive | None = None):
        self.url, self.host = url, host
        self.keepalive = keepalive or Keepalive.within(registry.STALE_AFTER)
        self.connection: psycopg.Connection | None = None
        self.leading = False
        self.next_try = 0.0
        self.guard = threading.Lock()  # the sync job and fired jobs run on different threads

    def conninfo(self) -> str:
        """The database URL with the keepalives added (and a name pg_stat_activity shows)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            self.url, application_name=f"messagehub-tui scheduler on {self.host}"[:63],
            **self.keepalive.connect_options())

    def held(self) -> bool:
        """Whether this daemon leads now: checks a held lock's connection is still alive (a
        lost connection is a lost lock), else tries to take it when a retry is due."""
        import psycopg  # the PostgreSQL extra; only a daemon on PostgreSQL gets here

        with self.guard:
            if self.leading and self.connection is not None:
                try:
                    self.connection.execute("SELECT 1")
                    return True
                except psycopg.Error as exc:
                    log.warning("host %s lost the scheduler lock: %s", self.host, exc)
                    self._drop()
            if time.monotonic() < self.next_try:
                return False
            self.next_try = time.monotonic() + RETRY_EVERY
            try:
                if self.connection is None:
                    self.connection = psycopg.connect(self.conninfo(), autocommit=True)
                row = self.connection.execute("SELECT pg_try_advisory_lock(%s)",
                                              (LOCK_KEY,)).fetchone()
            except psycopg.Error as exc:
                log.warning("host %s cannot reach the database for the scheduler lock: %s",
                            self.host, exc)
                self._drop()
                return False
            self.leading = bool(row and row[0])
            if self.leading:
                log.info("host %s holds the scheduler lock: it fires the schedules", self.host)
            return self.leading

    def _drop(self) -> None:
        self.leading = False
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def close(self) -> None:
        """Give the lock up (closing the session releases it)."""
        with self.guard:
            self._drop()


def for_settings(settings: Settings) -> Leadership:
    """PostgreSQL: the advisory lock elects the one daemon of all hosts that fires schedules;
    SQLite: this daemon (the home's lock file already made it the only one)."""
    if settings.database.url:
        return AdvisoryLock(settings.database.url, settings.host)
    return Always()


def while_leading(stopping: threading.Event, every: float, leading: Callable[[], bool],
                  round_: Callable[[], None]) -> None:
    """A daemon thread's loop of polls that one daemon of all hosts does (the bounce mailbox,
    Twilio's statuses): `round_` every `every` seconds while `leading()` says this daemon leads,
    until `stopping` is set. `round_` logs its problems rather than raising them: a mailbox or
    an API that is down for a while must not stop the daemon's schedules."""
    try:
        while not stopping.is_set():
            if leading():
                round_()
            if stopping.wait(every):
                return
    finally:
        db.close()  # this thread's own connection
