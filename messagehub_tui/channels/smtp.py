"""SMTP channel: one pipelined connection per lane, reconnects, and SMTP error classification."""

from __future__ import annotations

import socket
import ssl

from messagehub_tui.channels.base import ChannelStopped, Outcome, Outgoing, SendResult
from messagehub_tui.channels.smtp_client import SmtpClient, SmtpProtocolError, SmtpReplyError
from messagehub_tui.config import EmailSettings

AUTH_CODES = frozenset({530, 534, 535, 538})
REFUSALS_BEFORE_STOP = 3


def classify_reply(error: SmtpReplyError) -> SendResult:
    """4xx retry later, 5xx fail the recipient, authentication problems stop the campaign."""
    reason = f"{error.stage}: {error.code} {error.text}"
    if error.code in AUTH_CODES or error.stage in ("AUTH", "STARTTLS"):
        return SendResult(Outcome.STOP, reason=f"SMTP authentication failed: {reason}")
    if error.stage == "greeting" and error.code >= 500:
        return SendResult(Outcome.STOP, reason=f"the SMTP server refuses this client: {reason}")
    if 400 <= error.code < 500:
        return SendResult(Outcome.RETRY, reason=reason)
    return SendResult(Outcome.FAILED, reason=reason)


class SmtpChannel:
    """`connections` SMTP connections, one per lane, opened lazily and reused across messages."""

    def __init__(self, settings: EmailSettings, envelope_from: str):
        self.settings = settings
        self.envelope_from = envelope_from
        self.lanes = settings.connections
        self._clients = [self._client() for _ in range(self.lanes)]
        self._refusals = 0

    def _client(self) -> SmtpClient:
        s = self.settings
        return SmtpClient(s.host, s.effective_port, s.security, s.timeout, s.username, s.password,
                          s.verify, local_hostname=socket.getfqdn())

    async def open(self) -> None:
        """Connect the first lane now, so bad credentials or a dead server show at once."""
        result = await self._ensure(self._clients[0])
        if result is not None and result.outcome == Outcome.STOP:
            raise ChannelStopped(result.reason)

    async def _ensure(self, client: SmtpClient) -> SendResult | None:
        if client.connected:
            return None
        try:
            await client.connect()
        except SmtpReplyError as exc:
            await client.close()
            return classify_reply(exc)
        except ssl.SSLCertVerificationError as exc:
            await client.close()
            return SendResult(Outcome.STOP, reason=(
                f"the TLS certificate of {self.settings.host} is not trusted "
                f"({exc.verify_message}); install its CA, or set [email] verify = false "
                "for a test server"))
        except (OSError, TimeoutError) as exc:
            await client.close()
            self._refusals += 1
            where = f"{self.settings.host}:{self.settings.effective_port}"
            reason = f"cannot connect to {where}: {exc or type(exc).__name__}"
            if self._refusals >= REFUSALS_BEFORE_STOP:
                return SendResult(Outcome.STOP, reason=reason)
            return SendResult(Outcome.RETRY, reason=reason)
        self._refusals = 0
        return None

    async def send(self, lane: int, message: Outgoing) -> SendResult:
        client = self._clients[lane]
        problem = await self._ensure(client)
        if problem is not None:
            return problem
        try:
            reply = await client.send(self.envelope_from, message.recipient, message.payload)
        except SmtpReplyError as exc:
            return classify_reply(exc)
        except (OSError, TimeoutError, SmtpProtocolError) as exc:
            # the connection is in an unknown state: never reuse it for another recipient
            sent = client.data_sent
            await client.close()
            what = str(exc) or type(exc).__name__
            if sent:
                return SendResult(Outcome.UNKNOWN,
                                  reason=f"no reply after the message was sent: {what}")
            if isinstance(exc, SmtpProtocolError):
                return SendResult(Outcome.RETRY, reason=f"SMTP protocol error: {what}")
            return SendResult(Outcome.RETRY, reason=f"connection lost: {what}")
        return SendResult(Outcome.SENT, provider_id=reply[:200])

    async def close(self) -> None:
        for client in self._clients:
            await client.close()
