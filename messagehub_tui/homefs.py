"""The home on disk: which commands may make one, private modes, warnings about exposed ones."""

from __future__ import annotations

import os
import stat
from enum import Enum
from pathlib import Path

from messagehub_tui.config import CONFIG_NAME, DB_NAME, HOME_ENV, HomeOrigin
from messagehub_tui.errors import MessagehubError

# Contacts and their messages are personal data: nothing the tool creates is for group or others.
PRIVATE_UMASK = 0o077
HOME_MODE = 0o700
# Less room than this and SQLite cannot even map the shared-memory file a reader needs.
NEARLY_FULL = 64 * 1024


class HomeAccess(Enum):
    """What a command needs of its home."""

    CREATE = "create"  # adds data: makes the home when it does not exist yet
    WRITE = "write"    # changes campaigns: needs an existing home, recovers dead runners first
    READ = "read"      # only looks: needs an existing home, never waits for the write lock
    CHECK = "check"    # doctor: needs an existing home and opens the database itself, so a
                       # database that is down is one failed check among the others


def private_umask() -> int:
    """Make every file and folder this process creates private to its user; returns the old mask."""
    return os.umask(PRIVATE_UMASK)


def is_home(home: Path, shared_database: bool = False) -> bool:
    """A folder is a home once it holds a database; with a shared ([database] url) one, once
    it exists (it holds the configuration, logs and outbox)."""
    return home.is_dir() if shared_database else (home / DB_NAME).is_file()


def require_home(home: Path, shared_database: bool = False,
                 origin: HomeOrigin = HomeOrigin.OPTION) -> None:
    """Refuse to work on a folder that is not a home, saying which folder, where its path came
    from (a $MESSAGEHUB_HOME set long ago is easy to forget) and what to do."""
    if is_home(home, shared_database):
        return
    what = "does not exist" if not home.exists() else f"has no {DB_NAME}, so it is not a home"
    if origin is HomeOrigin.ENVIRONMENT:
        said, fix = f"${HOME_ENV} names {home}, which {what}", \
            f"set {HOME_ENV} (or pass --home) to your home"
    else:
        said = f"{home} {what}" if origin is HomeOrigin.OPTION else f"{origin.value} {home} {what}"
        fix = f"pass --home (or set {HOME_ENV}) to your home"
    raise MessagehubError(f"{said}; {fix}, or start one with `messagehub-tui --home {home} init` "
                          "or by importing contacts")


def create_home(home: Path, shared_database: bool = False) -> bool:
    """Make the home folder (private) when it is not a home yet; True when it was not one."""
    if is_home(home, shared_database):
        return False
    try:
        home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise MessagehubError(f"cannot create the home {home}: {exc.strerror}") from None
    if not home.is_dir():
        raise MessagehubError(f"cannot create the home {home}: it is a file, not a folder")
    _make_private_if_empty(home)
    return True


def _make_private_if_empty(home: Path) -> None:
    """An empty folder (made by `mkdir` for this home, under the usual umask 022) becomes private
    as it becomes a home, as a folder this process makes is. A folder already holding other things
    (the current folder, say) keeps its mode: it may be shared on purpose, and the exposure warning
    says how to close it. Only group and other bits go, so nothing is ever loosened."""
    try:
        if next(home.iterdir(), None) is not None:
            return
        mode = stat.S_IMODE(home.stat().st_mode)
        if mode & 0o077:
            home.chmod(mode & ~0o077)
    except OSError:
        return  # not ours to change (another owner): the exposure warning still tells


def _exposed(path: Path) -> int | None:
    """The mode of `path` when group or others may read, write or enter it; None otherwise."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def exposure_warnings(home: Path) -> list[str]:
    """One line for the home and one for its configuration when others can read them (as OpenSSH
    and msmtp warn). A configuration inside a private home is out of others' reach whatever its
    own mode, so it is named only when the home is open too: a warning must mean a real exposure."""
    mode = _exposed(home)
    if mode is None:
        return []
    warnings = [f"warning: the home {home} is accessible by others (mode {mode:o}); "
                f"make it private with: chmod -R go-rwx {home}"]
    config = home / CONFIG_NAME
    mode = _exposed(config)
    if mode is not None:
        warnings.append(f"warning: {config} is readable by others (mode {mode:o}); "
                        f"make it private with: chmod 600 {config}")
    return warnings


def free_bytes(folder: Path) -> int | None:
    """Room left for an unprivileged writer on the disk holding `folder`; None when unknown."""
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


def disk_full(folder: Path) -> bool:
    """Whether the disk holding `folder` has (next to) no room left."""
    room = free_bytes(folder)
    return room is not None and room < NEARLY_FULL


def read_only(folder: Path) -> bool:
    """Whether this process cannot write in `folder`: a read-only mount (a backup, a snapshot),
    or another user's folder."""
    return folder.is_dir() and not os.access(folder, os.W_OK)
