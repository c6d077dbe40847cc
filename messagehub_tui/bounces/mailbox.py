"""Poll the bounce mailbox over IMAP: act on bounces and complaints, leave everything else alone.

Messages are fetched with BODY.PEEK (`mark_seen=False`), so nothing is marked read by looking.
A recognised report that names one of this home's deliveries is MOVED to the processed folder
(created if missing), never deleted; auto-replies, unrelated mail and reports about mail this
home did not send stay where they are, unread.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import socket
import ssl
from dataclasses import dataclass
from email.message import Message

from imap_tools import (
    BaseMailBox,
    MailBox,
    MailBoxStartTls,
    MailBoxUnencrypted,
    MailMessageFlags,
)
from imap_tools.errors import ImapToolsError

from messagehub_tui.bounces import policy, store
from messagehub_tui.bounces.parse import Finding, Kind, classify_message
from messagehub_tui.config import IMAP_PASSWORD_ENV, BounceSettings, Settings
from messagehub_tui.errors import MessagehubError

TIMEOUT = 30.0
FETCH_BULK = 50  # messages per FETCH round trip


class MailboxProblem(MessagehubError):
    """The mailbox cannot be reached, logged in to or read; the text says which and why."""


@dataclass(frozen=True)
class Seen:
    """One message of the poll: what it was and what was done with it."""

    uid: str
    finding: Finding
    applied: policy.Applied | None

    @property
    def moved(self) -> bool:
        return self.applied is not None

    def line(self) -> str:
        """One line for `bounces check`."""
        kind, found = self.finding.kind, self.finding
        what = {Kind.COMPLAINT: "complaint", Kind.UNSUBSCRIBE: "unsubscribe"}.get(
            kind, f"bounce {kind.value}")
        if self.applied is not None:
            done = "suppressed" if self.applied.suppressed else (
                "already recorded" if self.applied.repeated else "recorded")
            return (f"{what}: {self.applied.address} (campaign {self.applied.campaign_id}): "
                    f"{found.diagnostic}; {done}, moved")
        if kind == Kind.UNSUBSCRIBE:
            return f"{what}: no token of this home, left: uid {self.uid}"
        if kind.recognised:
            return (f"{what}: {found.recipient or 'no recipient'}: not about mail sent from "
                    f"this home, left")
        return f"{kind.value} left: uid {self.uid}"


def _where(bounces: BounceSettings) -> str:
    return f"{bounces.imap_host}:{bounces.effective_port}"


def open_mailbox(bounces: BounceSettings) -> BaseMailBox:
    """A logged-in mailbox; MailboxProblem (one line, never the password) when that fails."""
    if not bounces.reads_mailbox:
        raise MailboxProblem("[bounces] imap_host is not set; nothing to poll")
    if not bounces.password:
        raise MailboxProblem(f"${IMAP_PASSWORD_ENV} is not set; export the mailbox password "
                             "before polling")
    where = _where(bounces)
    try:
        if bounces.security == "tls":
            box = MailBox(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT,
                          ssl_context=ssl.create_default_context())
        elif bounces.security == "starttls":
            box = MailBoxStartTls(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT,
                                  ssl_context=ssl.create_default_context())
        else:
            box = MailBoxUnencrypted(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT)
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"cannot reach the bounce mailbox at {where}: {_why(exc)}") from None
    try:
        box.login(bounces.imap_user, bounces.password, initial_folder=None)
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        _logout(box)
        raise MailboxProblem(f"the bounce mailbox at {where} refused the login of "
                             f"{bounces.imap_user!r}; check imap_user and ${IMAP_PASSWORD_ENV}"
                             f" ({type(exc).__name__})") from None
    return box


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return f"no answer within {TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"


def _logout(box: BaseMailBox) -> None:
    # the connection may already be gone; then nothing is left to release
    with contextlib.suppress(OSError, imaplib.IMAP4.error, ImapToolsError):
        box.logout()


def _message_key(msg: Message) -> str:
    """The report's own Message-ID, else a digest of it: one record per report, however often
    it is seen."""
    own = " ".join(str(msg.get("Message-ID", "")).split())
    if own:
        return own
    try:
        raw = msg.as_bytes()
    except (UnicodeError, LookupError):  # a broken charset cannot be re-serialised as it came
        raw = str(msg.items()).encode("utf-8", "replace")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def poll(settings: Settings, everything: bool = False) -> list[Seen]:
    """One pass over the messages of the bounce folder not seen by an earlier pass (all of them
    with `everything`); one entry per message read."""
    box = open_mailbox(settings.bounces)
    try:
        return poll_box(settings, box, everything)
    finally:
        _logout(box)


def poll_box(settings: Settings, box: BaseMailBox, everything: bool = False) -> list[Seen]:
    """poll() on a mailbox already logged in (the daemon keeps one open to IDLE on it)."""
    bounces = settings.bounces
    try:
        try:
            validity = box.folder.status(bounces.imap_folder, ["UIDVALIDITY"])["UIDVALIDITY"]
            box.folder.set(bounces.imap_folder)
        except (imaplib.IMAP4.error, ImapToolsError) as exc:
            raise MailboxProblem(f"the bounce mailbox at {_where(bounces)} has no folder "
                                 f"{bounces.imap_folder!r} ({type(exc).__name__})") from None
        folder_key = f"{bounces.imap_user}@{_where(bounces)}/{bounces.imap_folder}"
        mark = None if everything else store.read_mark(folder_key)
        after = mark.last_uid if mark is not None and mark.validity == validity else 0
        seen = []
        # `UID n:*` always returns the newest message, even below n: filter on our side
        for message in box.fetch(f"UID {after + 1}:*" if after else "ALL", mark_seen=False,
                                 bulk=FETCH_BULK):
            if int(message.uid) <= after:
                continue
            finding = classify_message(message.obj)
            applied = None
            if finding.kind.recognised:
                applied = policy.apply(settings, finding, _message_key(message.obj))
            seen.append(Seen(message.uid, finding, applied))
        moving = [entry.uid for entry in seen if entry.moved]
        if moving:
            _move(box, moving, bounces.imap_processed_folder)
        # only once every move is done: a pass that fails reads the same messages again, and
        # the bounce table makes sure nothing is counted twice
        last = max((int(entry.uid) for entry in seen), default=after)
        if mark != store.ReadMark(validity, last):
            store.save_mark(folder_key, store.ReadMark(validity, last))
        return seen
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"reading the bounce mailbox at {_where(bounces)} failed: "
                             f"{_why(exc)}") from None


def _move(box: BaseMailBox, uids: list[str], folder: str) -> None:
    """Move to the processed folder, creating it first if missing.

    Without MOVE, imap-tools would COPY then EXPUNGE the whole folder, which also removes other
    mail the owner flagged \\Deleted: here only these uids are expunged (UIDPLUS), or, without
    UIDPLUS, they stay flagged \\Deleted for the owner's client to expunge.
    """
    if not box.folder.exists(folder):
        box.folder.create(folder)
    if "MOVE" in box.client.capabilities:
        box.move(uids, folder)
        return
    box.copy(uids, folder)
    box.flag(uids, MailMessageFlags.DELETED, True)
    if "UIDPLUS" in box.client.capabilities:
        box.client.uid("EXPUNGE", ",".join(uids))
