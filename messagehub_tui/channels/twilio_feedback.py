"""What Twilio tells us after a send, parsed and verified: delivery status (callbacks and fetches),
inbound keywords, and the webhook signature. Pure rules; the services act on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

STATUS_PATH = "/twilio/status"
INBOUND_PATH = "/twilio/inbound"
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
UNSUBSCRIBED_CODE = 21610  # the number replied STOP to this sender: Twilio will refuse it
# The reason of every suppression a STOP made (an inbound STOP, or Twilio's 21610 at send time or
# in a callback): the one a START lifts. Other suppressions (bounces, a user's) stay.
STOP_REASON = "replied STOP (Twilio error 21610 until they reply START)"


class FinalStatus(StrEnum):
    """A message's last state at Twilio; anything else (queued, sending, sent, …) may change."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # the carrier could not deliver it
    FAILED = "failed"  # Twilio could not send it at all


# Twilio's MessageStatus values that end a message's life. "read" (WhatsApp, RCS) comes after
# "delivered"; "canceled" is a scheduled message that was never sent.
_FINAL = {"delivered": FinalStatus.DELIVERED, "read": FinalStatus.DELIVERED,
          "undelivered": FinalStatus.UNDELIVERED, "failed": FinalStatus.FAILED,
          "canceled": FinalStatus.FAILED}

# The common ErrorCodes of status callbacks, as Twilio's error dictionary names them
# (https://www.twilio.com/docs/api/errors/NNNNN).
ERROR_MEANINGS = {
    21211: "invalid 'To' phone number",
    21408: "permission to send an SMS has not been enabled for the region",
    21610: "the recipient replied STOP to this sender (unsubscribed)",
    21612: "Twilio cannot route to this number",
    21614: "'To' number is not a valid mobile number",
    21635: "'To' number cannot be a landline",
    30001: "queue overflow: too many messages queued for this sender",
    30002: "account suspended",
    30003: "unreachable destination handset (off, out of coverage, or cannot receive SMS)",
    30004: "message blocked (by the recipient or their carrier)",
    30005: "unknown destination handset (the number does not exist or is inactive)",
    30006: "landline or unreachable carrier",
    30007: "message filtered by the carrier (spam or content rules)",
    30008: "unknown error from the carrier",
    30009: "missing inbound segment",
    30010: "message price exceeds the max price",
    30022: "US A2P 10DLC rate limit exceeded",
    30023: "US A2P 10DLC daily cap reached",
    30024: "numeric sender id not provisioned by the carrier",
    30032: "toll-free number has not been verified",
    30034: "message from an unregistered US A2P 10DLC number",
    30044: "message expired in the queue (validity period passed)",
}


def error_meaning(code: int | None, fallback: str | None = None) -> str:
    """What an ErrorCode means: the table's words, else Twilio's own message, else its page."""
    if code is None:
        return ""
    return (ERROR_MEANINGS.get(code) or fallback
            or f"see https://www.twilio.com/docs/api/errors/{code}")


def error_code(value: Any) -> int | None:
    """An ErrorCode as sent in a callback ("30003", "" or absent) or fetched (int or None)."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One message's status as Twilio reported it, in a callback or a fetch."""

    sid: str
    status: str  # Twilio's own word, lower case
    code: int | None = None
    meaning: str = ""

    @property
    def final(self) -> FinalStatus | None:
        return _FINAL.get(self.status)

    def detail(self) -> str:
        """One line for a delivery's error and its feedback: the status, code and meaning."""
        if self.code is None:
            return self.status
        return f"{self.status}: Twilio error {self.code}: {self.meaning}"


def status_report(sid: Any, status: Any, code: Any = None,
                  message: str | None = None) -> StatusReport | None:
    """A report from MessageSid, MessageStatus and ErrorCode; None when the sid or the status is
    missing or malformed."""
    if not isinstance(sid, str) or not sid.startswith(("SM", "MM")) or not sid[2:].isalnum():
        return None
    if not isinstance(status, str) or not status.strip():
        return None
    number = error_code(code)
    return StatusReport(sid, status.strip().lower(), number, error_meaning(number, message))


def callback_report(params: Mapping[str, Any]) -> StatusReport | None:
    """The report in a status callback's form fields."""
    return status_report(params.get("MessageSid"), params.get("MessageStatus"),
                         params.get("ErrorCode"))


class Keyword(StrEnum):
    """What an inbound text asks for."""

    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"  # Twilio answers HELP itself; we record nothing
    REPLY = "reply"  # anything else: a reply a person should read


OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke",
                           "optout"})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
# With Advanced Opt-Out, Twilio says which of its (possibly custom, localised) keywords matched.
_OPT_OUT_TYPES = {"STOP": Keyword.OPT_OUT, "START": Keyword.OPT_IN, "HELP": Keyword.HELP}


def keyword(body: str, opt_out_type: str | None = None) -> Keyword:
    """The keyword an inbound message is: the whole body, trimmed, compared without case (so
    "Stop " opts out and "stop please" is a reply), or Twilio's own OptOutType when it sent one."""
    if opt_out_type and opt_out_type.strip().upper() in _OPT_OUT_TYPES:
        return _OPT_OUT_TYPES[opt_out_type.strip().upper()]
    word = body.strip().casefold()
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in HELP_WORDS:
        return Keyword.HELP
    return Keyword.REPLY


def endpoint_url(public_url: str, path: str, query: str = "") -> str:
    """The URL Twilio requested, as the outside world sees it (what Twilio signed): never the
    Host header the proxy forwarded."""
    url = public_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def status_callback_url(public_url: str | None) -> str | None:
    """The StatusCallback every message is created with, when the endpoint is reachable."""
    return endpoint_url(public_url, STATUS_PATH) if public_url else None


def signature_valid(url: str, params: Mapping[str, Any], headers: Mapping[str, str],
                    auth_token: str | None, shared_key: str | None = None) -> bool:
    """Whether X-Twilio-Signature signs `url` and `params`: with the Auth Token (HMAC-SHA1) or,
    when Twilio names a signature setting (a Webhook Rule with a SharedKey), with that key and
    the algorithm it names. No secret to check with means not valid."""
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    settings_header = headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = shared_key if settings_header else auth_token
    if not secret:
        return False
    validator = RequestValidator(secret)
    return bool(validator.validate(url, params, signature,
                                   get_signature_algorithm(settings_header)))
