"""Classify one message of the bounce mailbox: hard or soft bounce, complaint, auto-reply, other.

Order matters: a DSN (RFC 3464) or a complaint (RFC 5965) is recognised by its structure first,
because MTAs mark their own DSNs `Auto-Submitted: auto-replied` (Postfix does); only then do
auto-reply markers (RFC 3834 and the usual vendor headers) make a message "not a bounce".
`flufl.bounce` is the fallback for non-standard bounces, and only for mail that looks machine-sent
by a mail system (null return path, MAILER-DAEMON, postmaster), so a person's message that happens
to quote an address is never taken for one.

An unsubscribe request is the mail a recipient's client sends to the List-Unsubscribe mailto:
its subject (or, unless it is an auto-reply, a line of its own text, not a quoted one) holds a
token shaped like the one compose.mailto_with_token put there. Whether the token is genuine is
for the policy to check (it needs the key); here it is only a candidate.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from enum import StrEnum

from flufl.bounce import all_failures


class Kind(StrEnum):
    """What a message in the bounce mailbox is."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto-reply"
    UNRELATED = "unrelated"

    @property
    def recognised(self) -> bool:
        """Bounces, complaints and unsubscribe requests are acted on and moved (when they name
        a delivery of this home); everything else is left alone."""
        return self in (Kind.HARD, Kind.SOFT, Kind.COMPLAINT, Kind.UNSUBSCRIBE)


@dataclass(frozen=True)
class Finding:
    """One classified message: its kind, the failed recipient and why, and what identifies the
    original message (the bounce's own envelope recipients for VERP, the quoted Message-ID)."""

    kind: Kind
    recipient: str | None = None
    status: str = ""
    diagnostic: str = ""
    original_message_id: str | None = None
    envelope_to: tuple[str, ...] = field(default=())
    tokens: tuple[str, ...] = field(default=())  # unsubscribe token candidates, first seen first


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ARF_TYPES = ("message/feedback-report",)
_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/global",
                   "message/global-headers")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_OUT_OF_OFFICE = re.compile(r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|"
                            r"autoreply|away from (my|the) (office|desk)|on vacation|vacation "
                            r"reply|abwesenheitsnotiz|absence|r[ée]ponse automatique)\b",
                            re.IGNORECASE)
# signing.unsubscribe_token's shape, `<delivery id>.<22 URL-safe base64>`, standing alone; not
# after `%`: a percent-encoded copy of the link (`subject=unsubscribe%2042.…`, quoted in a reply)
# is not a request
_TOKEN = re.compile(r"(?<![0-9A-Za-z.%_-])([0-9]{1,18}\.[A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])")
_MAX_TEXT = 64 * 1024  # an unsubscribe request is short: the start of the text is enough
_MAIL_SYSTEM = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mail\.delivery|"
                          r"mdaemon|mailadmin)\b", re.IGNORECASE)


def _address(value: str | None) -> str | None:
    """The address of a DSN recipient field (`rfc822; ann@example.com`) or a header."""
    if not value:
        return None
    text = str(value)
    if ";" in text:
        text = text.split(";", 1)[1]
    address = parseaddr(text.strip())[1] or text.strip().strip("<>")
    return address.lower() if "@" in address else None


def _one_line(value: str | None) -> str:
    return " ".join(str(value or "").split())


def _envelope_to(msg: Message) -> tuple[str, ...]:
    """Where the bounce itself was delivered: the VERP address, if the relay kept it."""
    values = [str(v) for name in ("X-Original-To", "Delivered-To", "Envelope-To", "To")
              for v in msg.get_all(name, [])]
    return tuple(dict.fromkeys(a.lower() for _, a in getaddresses(values) if "@" in a))


def _parts(msg: Message, types: tuple[str, ...]) -> list[Message]:
    return [part for part in msg.walk() if part.get_content_type() in types]


def _field_blocks(part: Message) -> list[Message]:
    """The field groups of a delivery-status or feedback-report part, however it was parsed."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    raw = part.get_payload(decode=True) or b""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
    return [HeaderParser().parsestr(chunk.strip() + "\n")
            for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _original_headers(msg: Message) -> Message | None:
    """The headers of the original message a report quotes (message/rfc822 or
    text/rfc822-headers)."""
    for part in _parts(msg, _ORIGINAL_TYPES):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        raw = part.get_payload(decode=True) or b""
        return HeaderParser().parsestr(raw.decode("utf-8", "replace"))
    return None


def _original_message_id(msg: Message) -> str | None:
    headers = _original_headers(msg)
    found = _one_line(headers.get("Message-ID")) if headers is not None else ""
    return found.strip("<>") or None


def _dsn(msg: Message, part: Message) -> Finding | None:
    """The first failed or delayed recipient of a delivery-status part; None when every
    recipient was delivered (a success notification is not a bounce)."""
    for block in _field_blocks(part)[1:] or _field_blocks(part):
        action = _one_line(block.get("Action")).lower()
        status_match = _STATUS.search(_one_line(block.get("Status")))
        recipient = _address(block.get("Original-Recipient")) or _address(
            block.get("Final-Recipient"))
        if status_match:
            klass = status_match.group(1)
            kind = {"5": Kind.HARD, "4": Kind.SOFT}.get(klass)
            status = status_match.group(0)
        else:
            kind = {"failed": Kind.HARD, "delayed": Kind.SOFT}.get(action)
            status = ""
        if action in ("delivered", "relayed", "expanded") or kind is None or recipient is None:
            continue
        diagnostic = _one_line(block.get("Diagnostic-Code")) or (
            f"status {status}" if status else f"action {action}")
        return Finding(kind, recipient, status, diagnostic, _original_message_id(msg),
                       _envelope_to(msg))
    return None


def _complaint(msg: Message, part: Message) -> Finding:
    fields = Message()
    for block in _field_blocks(part):
        for name, value in block.items():
            fields[name] = value
    recipient = _address(fields.get("Original-Rcpt-To")) or (
        _address((_original_headers(msg) or Message()).get("To")))
    feedback = _one_line(fields.get("Feedback-Type")) or "abuse"
    return Finding(Kind.COMPLAINT, recipient, "", f"feedback type {feedback}",
                   _original_message_id(msg), _envelope_to(msg))


def is_auto_reply(msg: Message) -> bool:
    """RFC 3834 and the vendor markers of vacation and out-of-office replies."""
    submitted = _one_line(msg.get("Auto-Submitted")).lower()
    if submitted and submitted != "no":
        return True
    if any(msg.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress",
                                      "X-Vacation")):
        return True
    if _one_line(msg.get("Precedence")).lower() in ("auto_reply", "auto-reply"):
        return True
    return bool(_OUT_OF_OFFICE.match(_one_line(msg.get("Subject"))))


def _from_mail_system(msg: Message) -> bool:
    """From MAILER-DAEMON or postmaster: a null return path alone is not enough, RFC 3834
    auto-replies use one too."""
    return bool(_MAIL_SYSTEM.match(parseaddr(str(msg.get("From", "")))[1]))


def _fallback(msg: Message) -> Finding | None:
    """flufl.bounce's detectors for bounces that are not RFC 3464 (older Exim, qmail, Exchange)."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector tripping on odd mail must not stop the poll
        return None
    for kind, found in ((Kind.HARD, permanent), (Kind.SOFT, temporary)):
        for raw in sorted(found):
            recipient = _address(raw.decode("utf-8", "replace"))
            if recipient:
                subject = _one_line(msg.get("Subject"))[:200]
                return Finding(kind, recipient, "", f"non-standard bounce: {subject}",
                               _original_message_id(msg), _envelope_to(msg))
    return None


def _own_text(msg: Message) -> str:
    """The sender's own words: the first text/plain part outside any attached message, without
    quoted (`>`) lines."""
    for part in msg.walk():
        if part.get_content_type() in _ORIGINAL_TYPES:
            return ""
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            raw = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                text = raw[:_MAX_TEXT].decode(charset, "replace")
            except LookupError:  # an unknown charset name
                text = raw[:_MAX_TEXT].decode("utf-8", "replace")
            return "\n".join(line for line in text.splitlines()
                             if not line.lstrip().startswith(">"))
    return ""


def _unsubscribe(msg: Message, text: str) -> Finding | None:
    tokens = tuple(dict.fromkeys(_TOKEN.findall(text)))
    if not tokens:
        return None
    return Finding(Kind.UNSUBSCRIBE, diagnostic="List-Unsubscribe mailto: request",
                   envelope_to=_envelope_to(msg), tokens=tokens)


def classify(raw: bytes) -> Finding:
    """The kind of one raw RFC 5322 message, with what identifies the delivery it is about."""
    return classify_message(email.message_from_bytes(raw))


def classify_message(msg: Message) -> Finding:
    """classify() for a message already parsed (imap-tools hands one over)."""
    for part in _parts(msg, _DSN_TYPES):
        found = _dsn(msg, part)
        if found:
            return found
    if _parts(msg, _DSN_TYPES):
        return Finding(Kind.UNRELATED, envelope_to=_envelope_to(msg))  # only successes reported
    arf = _parts(msg, _ARF_TYPES)
    if arf:
        return _complaint(msg, arf[0])
    if _from_mail_system(msg):
        found = _fallback(msg)
        if found:
            return found
    # the subject first: only the unsubscribe mail itself carries the token there, and a client
    # may mark it Auto-Submitted (a click sent it, not a person)
    found = _unsubscribe(msg, _one_line(msg.get("Subject")))
    if found:
        return found
    if is_auto_reply(msg):
        return Finding(Kind.AUTO_REPLY, envelope_to=_envelope_to(msg))
    return _unsubscribe(msg, _own_text(msg)) or Finding(Kind.UNRELATED,
                                                         envelope_to=_envelope_to(msg))
