"""Per-runner hand-off journal: which claimed deliveries were handed to the transport, and what
came of them, written before the database hears of it.

A runner writes `h ID ATTEMPT` right before it hands a message to the transport and `s`/`n`/`u`
(sent, not delivered, unknown) right after; `r REASON` says why it stopped when the database could
not be told. The file is mapped shared: a mark is a store into the page cache (no system call;
two `pwrite`s a message were 5 % of a runner's time), which survives the death of the process (not
of the host) as a written page does, and which every reader of the file sees at once. So after a
SIGKILL recovery knows exactly which `sending` rows were on the wire. The
first line names the boot (`b BOOT_ID`): after a host crash or reboot the page cache may have
been lost, so a journal from another boot is not trusted (its rows become unknown, as without one).

The file is preallocated in chunks (its blocks allocated up front, so a store into the mapping finds
its space taken already) and written in place rather than appended, each line
followed by a NUL that the next line overwrites (a reader stops at the first NUL). So a full disk
is noticed only when a chunk is added, before a hand-off, never while recording an outcome; the
last RESERVE bytes are kept for the stop reason; and forgetting everything (once the lanes
drained and all is recorded) is one NUL at the start, which needs no space.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from messagehub_tui.channels.base import Outcome

CHUNK = 64 * 1024
RESERVE = 1024
_NAME = re.compile(r"^runner-(\d+)\.log$")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot of the host (Linux); a journal written before a reboot is not trusted."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return "unknown"


class Mark(StrEnum):
    """What the journal says about one attempt of one delivery."""

    HANDED = "h"
    SENT = "s"
    NOT_SENT = "n"
    UNKNOWN = "u"


MARK_OF = {Outcome.SENT: Mark.SENT, Outcome.UNKNOWN: Mark.UNKNOWN}
_LINE = {mark: f"{mark} %d %d\n".encode("ascii") for mark in Mark}


@dataclass
class Entries:
    """A journal as read back: the last mark of each (delivery, attempt), and the stop reason."""

    marks: dict[int, tuple[int, Mark]] = field(default_factory=dict)
    reason: str | None = None


def folder(home: Path) -> Path:
    return home / "journal"


def path_for(home: Path, runner_id: int) -> Path:
    """Where runner `runner_id` of this home keeps its journal."""
    return folder(home) / f"runner-{runner_id}.log"


def runner_ids(home: Path) -> set[int]:
    """The runner ids that have a journal in this home."""
    try:
        names = os.listdir(folder(home))
    except FileNotFoundError:
        return set()
    return {int(match.group(1)) for name in names if (match := _NAME.match(name))}


class Journal:
    """The open journal of this runner process."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self._offset = 0
        os.posix_fallocate(self._fd, 0, CHUNK)
        self._size = CHUNK
        self._map = mmap.mmap(self._fd, CHUNK)
        self._put(f"b {boot_id()}")
        self._start = self._offset

    def _grow(self) -> None:
        """Allocate the next chunk; raises OSError (ENOSPC) when the disk is full."""
        os.posix_fallocate(self._fd, self._size, CHUNK)
        self._size += CHUNK
        self._map.close()
        self._map = mmap.mmap(self._fd, self._size)

    def _put(self, line: str, reserve: int = RESERVE) -> None:
        data = line.replace("\n", " ").replace("\0", " ").encode("utf-8", "replace")[:RESERVE - 2]
        self._write(data + b"\n", reserve)

    def _write(self, data: bytes, reserve: int) -> None:
        while self._offset + len(data) + 1 > self._size - reserve:
            self._grow()
        end = self._offset + len(data)
        self._map[self._offset:end + 1] = data + b"\0"
        self._offset = end

    def handed(self, delivery_id: int, attempt: int) -> None:
        """Say a message is about to reach the transport; raises OSError if that cannot be said."""
        self._write(_LINE[Mark.HANDED] % (delivery_id, attempt), RESERVE)

    def outcome(self, delivery_id: int, attempt: int, outcome: Outcome) -> None:
        """Say what the transport answered for a handed message (may use part of the reserve)."""
        self._write(_LINE[MARK_OF.get(outcome, Mark.NOT_SENT)] % (delivery_id, attempt),
                    RESERVE // 2)

    def stopped(self, reason: str) -> None:
        """Keep the reason the runner stopped for recovery, in the space kept for it."""
        self._put(f"r {reason[:RESERVE // 2 - 8]}", reserve=0)

    @property
    def written(self) -> int:
        """Bytes of marks since the journal was last forgotten."""
        return self._offset - self._start

    def reset(self) -> None:
        """Forget every mark: all of them are recorded in the database now."""
        self._map[self._start] = 0
        self._offset = self._start

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


def read(path: Path) -> Entries | None:
    """The marks of a journal, or None when there is none this boot wrote."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    header, _, body = data.split(b"\0", 1)[0].decode("utf-8", "replace").partition("\n")
    if header != f"b {boot_id()}":
        return None
    entries = Entries()
    for line in body.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "r":
            entries.reason = rest
            continue
        parts = rest.split()
        if kind in set(Mark) and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            entries.marks[int(parts[0])] = (int(parts[1]), Mark(kind))
    return entries


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
