"""The daemon's bounce poll: every [bounces] poll_every, in a thread of its own, until stopped."""

from __future__ import annotations

import logging
import threading

from peewee import DatabaseError

from messagehub_tui.config import Settings
from messagehub_tui.models import db

log = logging.getLogger("messagehub.bounces")


def poll_once(settings: Settings) -> None:
    """One poll whose problems are logged, never raised: a mailbox that is down for a while must
    not stop the daemon's schedules."""
    from messagehub_tui.bounces.mailbox import MailboxProblem, poll  # only when a mailbox is set
    try:
        seen = poll(settings)
    except MailboxProblem as exc:
        log.warning("bounce poll: %s", exc)
        return
    except DatabaseError as exc:
        log.error("bounce poll: database error: %s", exc)
        return
    for entry in seen:
        if entry.moved:
            log.info("bounce poll: %s", entry.line())
    if seen:
        log.info("bounce poll: %d messages, %d moved", len(seen), sum(e.moved for e in seen))


def _loop(settings: Settings, stopping: threading.Event) -> None:
    try:
        while True:
            poll_once(settings)
            if stopping.wait(settings.bounces.poll_every):
                return
    finally:
        db.close()  # this thread's own connection


def start_polling(settings: Settings, stopping: threading.Event) -> threading.Thread | None:
    """Start polling when [bounces] names a mailbox; the thread ends when `stopping` is set."""
    if not settings.bounces.reads_mailbox:
        return None
    # not a daemon thread: at exit Python waits for a poll in flight to finish its moves, so a
    # report recorded in the database never stays behind in the inbox
    thread = threading.Thread(target=_loop, args=(settings, stopping), name="bounce-poll")
    thread.start()
    log.info("polling the bounce mailbox every %g s", settings.bounces.poll_every)
    return thread
