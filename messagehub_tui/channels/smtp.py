"""SMTP channel: one pipelined connection per lane, reconnects, and SMTP error classification."""

from __future__ import annotations

import asyncio
import socket
import ssl

from messagehub_tui.channels.base import (
    NOT_SENT,
    ChannelBusy,
    ChannelStopped,
    Outcome,
    Outgoing,
    SendResult,
)
from messagehub_tui.channels.smtp_client import (
    SmtpClient,
    SmtpOutOfStep,
    SmtpProtocolError,
    SmtpReplyError,
    SmtpSetupError,
)
from messagehub_tui.config import SMTP_PASSWORD_ENV, EmailSettings

AUTH_CODES = frozenset({530, 534, 535, 538})
REFUSALS_BEFORE_STOP = 3
# where a 4xx refuses a connection rather than a message: a server busy or at its cap
BUSY_STAGES = frozenset({"greeting", "EHLO"})
CONNECT_ERRORS = (SmtpReplyError, SmtpSetupError, SmtpProtocolError, OSError, TimeoutError)


def classify_reply(error: SmtpReplyError, connecting: bool = False) -> SendResult:
    """4xx retry later, 5xx fail the recipient, authentication problems stop the campaign.

    While connecting, a 5xx is never the recipient's fault: it stops the campaign.
    """
    reason = f"{error.stage}: {error.code} {error.text}"
    if error.code in AUTH_CODES or error.stage == "AUTH":
        return SendResult(Outcome.STOP, reason=f"SMTP authentication failed: {reason}; check "
                                               f"[email] username and ${SMTP_PASSWORD_ENV}")
    if 400 <= error.code < 500:
        return SendResult(Outcome.RETRY, reason=reason)
    if connecting:
        return SendResult(Outcome.STOP, reason=f"the SMTP server refuses this client: {reason}")
    return SendResult(Outcome.FAILED, reason=reason)


def describe(exc: BaseException, timeout: float, during: str = "") -> str:
    """An error in words, never empty: a timeout says how long it waited."""
    if isinstance(exc, TimeoutError):
        return f"no answer{during} within {timeout:g} s"
    return str(exc) or type(exc).__name__


def connect_problem(exc: Exception, email: EmailSettings, stage: str) -> SendResult:
    """What a failed connection attempt means and what to change: STOP when retrying cannot
    help (configuration, credentials, certificate), RETRY for the network, BUSY for a server
    refusing one more connection. The one home of these texts, for campaigns, send-test and
    doctor."""
    where = f"{email.host}:{email.effective_port}"
    if isinstance(exc, SmtpReplyError):
        result = classify_reply(exc, connecting=True)
        if exc.stage in BUSY_STAGES and 400 <= exc.code < 500:
            # relays that cap a client's connections refuse the one over the cap so, and every
            # runner opens `connections` of them: say which settings make them fewer
            return result._replace(outcome=Outcome.BUSY, reason=(
                f"{result.reason}; a server that limits each client's connections answers so: "
                f"lower [email] connections ({email.connections} per runner) or [delivery] "
                "processes"))
        return result
    if isinstance(exc, SmtpSetupError):
        return SendResult(Outcome.STOP, reason=str(exc))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendResult(Outcome.STOP, reason=(
            f"the TLS certificate of {email.host} is not trusted ({exc.verify_message}); "
            "install the CA that signed it (or point SSL_CERT_FILE at it), or set [email] "
            "verify = false for a test server"))
    if isinstance(exc, ssl.SSLError):
        return SendResult(Outcome.STOP, reason=(
            f"TLS with {where} failed during {stage}: {exc.reason or exc}; check [email] "
            "security (\"tls\" usually on port 465, \"starttls\" on 587)"))
    what = describe(exc, email.timeout, f" during {stage}")
    return SendResult(Outcome.RETRY, reason=f"cannot connect to {where}: {what}; check [email] "
                                            "host, port and security, and the firewall")


def client_for(email: EmailSettings) -> SmtpClient:
    """An SMTP client configured from the [email] section."""
    return SmtpClient(email.host, email.effective_port, email.security, email.timeout,
                      email.username, email.password, email.verify,
                      local_hostname=socket.getfqdn(),
                      allow_plaintext_auth=email.allow_plaintext_auth)


class SmtpChannel:
    """`connections` SMTP connections, one per lane, opened lazily and reused across messages."""

    def __init__(self, settings: EmailSettings, envelope_from: str):
        self.settings = settings
        self.envelope_from = envelope_from
        self.lanes = settings.connections
        self.looks_ahead = True
        self._clients = [client_for(settings) for _ in range(self.lanes)]
        self._refusals = 0
        # the connects under way, each its own task, so that abandon() can drop them without
        # cancelling the sends that wait for them (a send always returns its result)
        self._connecting: set[asyncio.Task[SendResult | None]] = set()
        self._abandoned = False

    async def open(self) -> None:
        """Connect the first lane now, so bad credentials or a dead server show at once: any
        failure here stops (one timeout costs one timeout, not one per retry); a server at its
        cap for this client raises ChannelBusy. Abandoned while connecting, it returns: the
        caller is stopping."""
        result = await self._ensure(self._clients[0])
        if result is not None and result is not NOT_SENT:
            raise (ChannelBusy if result.outcome == Outcome.BUSY else ChannelStopped)(result.reason)

    def abandon(self) -> None:
        """Drop the connects under way and start no other: the campaign stops, and a server slow
        to greet (Postfix postscreen waits ~6 s, a busy one may say nothing until the timeout)
        must not hold up a stop for a lane that has sent nothing on that connection."""
        self._abandoned = True
        for task in self._connecting:
            task.cancel()

    async def _ensure(self, client: SmtpClient) -> SendResult | None:
        """None when the client is connected (now), else what the message gets instead: the
        failed connect's result, or NOT_SENT when the connect was abandoned."""
        if client.connected:
            return None
        if self._abandoned:
            return NOT_SENT
        connecting = asyncio.create_task(self._connect(client))
        self._connecting.add(connecting)
        try:
            await asyncio.wait({connecting})  # abandon() cancels the connect, not this wait
        finally:
            self._connecting.discard(connecting)
            connecting.cancel()  # (done already, unless this send itself was cancelled)
        return NOT_SENT if connecting.cancelled() else connecting.result()

    async def _connect(self, client: SmtpClient) -> SendResult | None:
        try:
            await client.connect()
        except asyncio.CancelledError:
            await client.close()  # half set up: aborted, no QUIT
            raise
        except CONNECT_ERRORS as exc:
            await client.close()
            result = connect_problem(exc, self.settings, client.stage)
            # (BUSY is not counted: the runner decides, knowing its other lanes and runners)
            if result.outcome == Outcome.RETRY:
                self._refusals += 1
                if self._refusals >= REFUSALS_BEFORE_STOP:
                    return SendResult(Outcome.STOP, reason=result.reason)
            return result
        self._refusals = 0
        return None

    async def send(self, lane: int, message: Outgoing, then: Outgoing | None = None
                   ) -> SendResult:
        """Send `message` on `lane`; `then`, when known, is the next message of that lane, whose
        envelope rides along with this body (see SmtpClient.send)."""
        client = self._clients[lane]
        following = None if then is None else \
            (then.envelope_from or self.envelope_from, then.recipient)
        try:
            return await self._attempt(client, message, following)
        except SmtpOutOfStep:
            pass  # the last transaction's trouble, not this message's: again, reconnected
        try:
            return await self._attempt(client, message, following)
        except SmtpOutOfStep as exc:
            return SendResult(Outcome.RETRY, reason=f"SMTP protocol error: {exc}")

    async def _attempt(self, client: SmtpClient, message: Outgoing,
                       following: tuple[str, str] | None) -> SendResult:
        problem = await self._ensure(client)
        if problem is not None:
            return problem
        payload = message.payload
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        try:
            reply = await client.send(message.envelope_from or self.envelope_from,
                                     message.recipient, payload, following, message.dotted)
        except SmtpReplyError as exc:
            return classify_reply(exc)
        except (OSError, TimeoutError, SmtpProtocolError) as exc:
            # the connection is in an unknown state: never reuse it for another recipient
            sent = client.data_sent
            await client.close()
            what = describe(exc, self.settings.timeout)
            if sent:
                return SendResult(Outcome.UNKNOWN,
                                  reason=f"no reply after the message was sent: {what}")
            if isinstance(exc, SmtpProtocolError):
                return SendResult(Outcome.RETRY, reason=f"SMTP protocol error: {what}")
            return SendResult(Outcome.RETRY, reason=f"connection lost: {what}")
        return SendResult(Outcome.SENT, provider_id=reply[:200])

    async def close(self) -> None:
        self.abandon()
        await asyncio.gather(*self._connecting, return_exceptions=True)
        for client in self._clients:
            await client.close()
