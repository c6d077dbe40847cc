"""The daemon's bounce poll, in a thread of its own until stopped: on a server that offers IMAP
IDLE, at once when mail arrives (and at least every [bounces] poll_every); elsewhere every
poll_every."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from peewee import DatabaseError

from messagehub_tui.config import Settings
from messagehub_tui.workers.leader import while_leading

log = logging.getLogger("messagehub.bounces")


def _report(seen: list) -> None:
    for entry in seen:
        if entry.moved:
            log.info("bounce poll: %s", entry.line())
    if seen:
        log.info("bounce poll: %d messages, %d moved", len(seen), sum(e.moved for e in seen))


def _session(settings: Settings, stopping: threading.Event) -> None:
    """Poll; then, while the server offers IDLE, wait on the same connection for news (at most
    poll_every) and poll again. Without IDLE it returns after one poll."""
    # imap-tools and flufl.bounce load only when a mailbox is set
    from messagehub_tui.bounces.mailbox import (
        close_mailbox,
        offers_idle,
        open_mailbox,
        poll_box,
        wait_for_news,
    )
    box = open_mailbox(settings.bounces)
    try:
        _report(poll_box(settings, box))
        if not offers_idle(box, settings.bounces):
            return
        while not stopping.is_set():
            wait_for_news(box, settings.bounces, stopping)
            if not stopping.is_set():
                _report(poll_box(settings, box))
    finally:
        close_mailbox(box)


def _round(settings: Settings, stopping: threading.Event) -> None:
    from messagehub_tui.bounces.mailbox import MailboxProblem
    try:
        _session(settings, stopping)
    except MailboxProblem as exc:
        log.warning("bounce poll: %s", exc)
    except DatabaseError as exc:
        log.error("bounce poll: database error: %s", exc)


def start_polling(settings: Settings, stopping: threading.Event,
                  leading: Callable[[], bool]) -> threading.Thread | None:
    """Start polling when [bounces] names a mailbox; the thread ends when `stopping` is set.
    With several hosts on one database only the daemon that `leading()` says leads reads the
    mailbox, so two hosts never move the same report at once."""
    if not settings.bounces.reads_mailbox:
        return None
    # not a daemon thread: at exit Python waits for a poll in flight to finish its moves, so a
    # report recorded in the database never stays behind in the inbox
    thread = threading.Thread(
        target=while_leading, name="bounce-poll",
        args=(stopping, settings.bounces.poll_every, leading, lambda: _round(settings, stopping)))
    thread.start()
    log.info("polling the bounce mailbox every %g s (at once on news where it offers IDLE)",
             settings.bounces.poll_every)
    return thread
