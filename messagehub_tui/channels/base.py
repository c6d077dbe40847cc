"""The transport interface and its results; error classification lives in each transport module."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple, Protocol


class Outcome(StrEnum):
    """What became of one send."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"
    STOP = "stop"
    # The server refused one more connection as over its cap for this client (a 4xx at the
    # greeting or EHLO): nothing was handed, so the message goes back to pending untried, and the
    # runner decides whether its other connections, or other runners, send instead.
    BUSY = "busy"


# SendResult and Outgoing are made for every message: named tuples (immutable, like a frozen
# dataclass, and a third of the cost to make: a frozen dataclass sets each field through
# object.__setattr__).
class SendResult(NamedTuple):
    """The outcome of one send, with the provider's id or the reason."""

    outcome: Outcome
    provider_id: str | None = None
    reason: str = ""
    suppress: bool = False


# A message not sent because the campaign stops: back to pending, its attempt not counted.
NOT_SENT = SendResult(Outcome.STOP, reason="stopped before sending")


class Outgoing(NamedTuple):
    """One rendered message: its delivery key, recipient and payload (email bytes or SMS text)."""

    key: int | str
    recipient: str
    payload: bytes | str
    envelope_from: str | None = None  # this message's own MAIL FROM (VERP); else the channel's
    # whether a line of an email payload may begin with a dot (SMTP's DATA doubles it); False
    # only when its composer knows that none does, which spares a search through it
    dotted: bool = True


class Transport(Protocol):
    """A transport with `lanes` independent senders (an SMTP connection each, say)."""

    lanes: int
    # whether `send` makes use of `then`: when it does, a lane renders its next message before
    # sending the current one
    looks_ahead: bool

    async def open(self) -> None:
        """Prepare to send; raises ChannelStopped when sending cannot work at all."""

    async def send(self, lane: int, message: Outgoing, then: Outgoing | None = None
                   ) -> SendResult:
        """Send one message on one lane; never raises for a per-message problem. `then` is the
        message this lane sends next, if it is known and ready."""

    def abandon(self) -> None:
        """The campaign stops: drop what is being set up (connections still connecting have
        sent nothing), so that a stop never waits for it; a send waiting for it, or needing a
        new one, returns NOT_SENT. Messages already on the wire are finished."""

    async def close(self) -> None:
        """Release connections and files."""


class ChannelStopped(Exception):
    """Sending cannot work (bad credentials, unreachable server): pause the campaign."""


class ChannelBusy(ChannelStopped):
    """The server refused the first connection as over its cap for this client: sending cannot
    work for this runner, but may for the campaign's other runners, which hold the connections
    the server accepts."""
