"""Poll the bounce mailbox over IMAP: act on bounces, complaints and mailto: unsubscribe requests,
leave everything else alone.

Messages are fetched with BODY.PEEK (`mark_seen=False`), so nothing is marked read by looking.
A recognised message that names one of this home's deliveries is MOVED to the processed folder
(created if missing), never deleted; auto-replies, unrelated mail and reports about mail this
home did not send stay where they are, unread. A pass reads only the messages that arrived after
the last one it read (UIDVALIDITY and UID kept in the meta table, bounces/store.py); the daemon
may wait for news with IDLE between passes (bounces/poller.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import socket
import ssl
import threading
import time
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
from messagehub_tui.config import IMAP_PASSWORD_ENV, BounceSettings, Security, Settings
from messagehub_tui.errors import MessagehubError

TIMEOUT = 30.0
FETCH_BULK = 50  # messages per FETCH round trip
IDLE_SLICE = 1.0  # an IDLE wait looks at its stop event this often
IDLE_MAX = 25 * 60.0  # RFC 2177: re-issue IDLE well within the servers' 29-minute limit


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
    assert bounces.imap_user, "load_settings refuses imap_host without imap_user"
    where = _where(bounces)
    box: BaseMailBox
    try:
        if bounces.security == Security.TLS:
            box = MailBox(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT,
                          ssl_context=_tls_context(bounces))
        elif bounces.security == Security.STARTTLS:
            box = MailBoxStartTls(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT,
                                  ssl_context=_tls_context(bounces))
        else:
            box = MailBoxUnencrypted(bounces.imap_host, bounces.effective_port, timeout=TIMEOUT)
    except ssl.SSLCertVerificationError as exc:
        trusted = (f"the CAs of [bounces] ca_file {bounces.ca_file}" if bounces.ca_file
                   else "the system's CAs")
        raise MailboxProblem(f"the TLS certificate of the bounce mailbox at {where} is not "
                             f"trusted by {trusted} ({exc.verify_message}); set [bounces] ca_file "
                             "to the CA that signed it") from None
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"cannot reach the bounce mailbox at {where}: {_why(exc)}") from None
    try:
        box.login(bounces.imap_user, bounces.password, initial_folder=None)
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        close_mailbox(box)
        raise MailboxProblem(f"the bounce mailbox at {where} refused the login of "
                             f"{bounces.imap_user!r}; check imap_user and ${IMAP_PASSWORD_ENV}"
                             f" ({type(exc).__name__})") from None
    return box


def _tls_context(bounces: BounceSettings) -> ssl.SSLContext:
    """Certificates and host names are always verified: against the system's CAs, or only
    against those of [bounces] ca_file."""
    try:
        return ssl.create_default_context(cafile=bounces.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise MailboxProblem(f"[bounces] ca_file {bounces.ca_file} cannot be used: it holds no "
                             f"PEM certificate that can be read ({type(exc).__name__})") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return f"no answer within {TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"


def close_mailbox(box: BaseMailBox) -> None:
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
        close_mailbox(box)


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
            uid = message.uid
            if uid is None or int(uid) <= after:  # no UID: nothing to move it by, leave it
                continue
            finding = classify_message(message.obj)
            applied = None
            if finding.kind.recognised:
                applied = policy.apply(settings, finding, _message_key(message.obj))
            seen.append(Seen(uid, finding, applied))
        moving = [entry.uid for entry in seen if entry.moved]
        if moving:
            _move(box, moving, bounces.imap_processed_folder)
        # only once every move is done: a pass that fails reads the same messages again, and
        # their feedback keys make sure nothing is counted twice
        last = max((int(entry.uid) for entry in seen), default=after)
        if mark != store.ReadMark(validity, last):
            store.save_mark(folder_key, store.ReadMark(validity, last))
        return seen
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"reading the bounce mailbox at {_where(bounces)} failed: "
                             f"{_why(exc)}") from None


def offers_idle(box: BaseMailBox, bounces: BounceSettings) -> bool:
    """Whether the server takes IDLE, asked after login (a server may announce more then than
    in its greeting)."""
    try:
        _, data = box.client.capability()
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"asking {_where(bounces)} for its capabilities failed: "
                             f"{_why(exc)}") from None
    words = b" ".join(item for item in data if isinstance(item, bytes)).upper().split()
    return b"IDLE" in words


def wait_for_news(box: BaseMailBox, bounces: BounceSettings, stopping: threading.Event) -> None:
    """IDLE (RFC 2177) on the selected folder until the server reports a change, `poll_every`
    passes or `stopping` is set; whichever comes first, the caller polls next."""
    deadline = time.monotonic() + min(bounces.poll_every, IDLE_MAX)
    try:
        box.idle.start()
        try:
            while not stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                began, span = time.monotonic(), min(left, IDLE_SLICE)
                if box.idle.poll(timeout=span):
                    return  # EXISTS and friends: new mail, or flags changed
                if time.monotonic() - began < span / 2:
                    return  # readable with nothing to read: the server is closing; a poll tells
        finally:
            box.idle.stop()
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as exc:
        raise MailboxProblem(f"waiting for mail (IDLE) at {_where(bounces)} failed: "
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
