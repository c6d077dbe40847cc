"""Twilio channel: the official client's async HTTP client, and Twilio error classification."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from messagehub_tui.channels.base import ChannelStopped, Outcome, Outgoing, SendResult
from messagehub_tui.channels.twilio_feedback import (
    STOP_REASON,
    UNSUBSCRIBED_CODE,
    StatusReport,
    status_report,
)
from messagehub_tui.config import SmsSettings

STOP_CODES = {20003: "Twilio rejected the credentials", 30002: "the Twilio account is suspended",
              20005: "the Twilio account is not active"}


class TimedHttpClient(AsyncTwilioHttpClient):
    """twilio's async client drops its own timeout unless each request passes one; pass it."""

    async def request(self, *args: Any, timeout: float | None = None,
                      **kwargs: Any) -> Any:
        return await super().request(*args, timeout=timeout or self.timeout, **kwargs)


def classify_twilio(error: TwilioRestException) -> SendResult:
    """429/20429/5xx retry, 21610 fails and suppresses, account errors stop, other 4xx fail."""
    reason = f"Twilio error {error.code or error.status}: {error.msg}"
    if error.code in STOP_CODES or error.status == 401:
        return SendResult(Outcome.STOP, reason=f"{STOP_CODES.get(error.code, 'unauthorised')}: "
                                               f"{reason}")
    if error.status == 429 or error.code == 20429 or error.status >= 500:
        return SendResult(Outcome.RETRY, reason=reason)
    if error.code == UNSUBSCRIBED_CODE:  # the suppression a START may lift
        return SendResult(Outcome.FAILED, reason=STOP_REASON, suppress=True)
    return SendResult(Outcome.FAILED, reason=reason)


class TwilioChannel:
    """Sends SMS through Messages.create with a From number or a messaging service."""

    def __init__(self, settings: SmsSettings, sender: str, status_callback: str | None = None):
        self.settings = settings
        self.sender = sender
        # where Twilio posts this message's delivery status; without it the daemon polls
        self.status_callback = status_callback
        self.lanes = settings.connections
        self.looks_ahead = False
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    async def open(self) -> None:
        if not self.settings.auth_token:
            raise ChannelStopped("TWILIO_AUTH_TOKEN is not set in the environment")
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        self._http = TimedHttpClient(timeout=self.settings.timeout)
        self._client = Client(self.settings.account_sid, self.settings.auth_token,
                              http_client=self._http)
        if self.settings.api_base_url:
            self._client.api.base_url = self.settings.api_base_url

    def _sender_args(self) -> dict:
        args = {"status_callback": self.status_callback} if self.status_callback else {}
        if self.sender.startswith("MG"):
            return {**args, "messaging_service_sid": self.sender}
        return {**args, "from_": self.sender}

    async def send(self, lane: int, message: Outgoing, then: Outgoing | None = None
                   ) -> SendResult:
        assert self._client is not None, "send() before open()"
        try:
            created = await self._client.messages.create_async(
                to=message.recipient, body=message.payload, **self._sender_args())
        except TwilioRestException as exc:
            return classify_twilio(exc)
        except aiohttp.ClientConnectorError as exc:
            return SendResult(Outcome.RETRY, reason=f"cannot connect to Twilio: {exc.os_error}")
        except aiohttp.ConnectionTimeoutError:
            return SendResult(Outcome.RETRY, reason="timed out connecting to Twilio")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(Outcome.UNKNOWN, reason=f"no answer after the request was sent: "
                                                      f"{type(exc).__name__} {exc}".strip())
        return SendResult(Outcome.SENT, provider_id=created.sid)

    def abandon(self) -> None:
        """Nothing to drop: a request under way may have reached Twilio, so it is awaited."""

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


class StatusUnavailable(Exception):
    """Twilio cannot be asked now (unreachable, rate-limited, credentials refused): stop this
    poll and try again at the next."""


class StatusReader:
    """Fetches messages' status with the official blocking client, for the daemon's poll."""

    def __init__(self, settings: SmsSettings):
        if not settings.auth_token:
            raise StatusUnavailable("TWILIO_AUTH_TOKEN is not set in the environment")
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        self._client = Client(settings.account_sid, settings.auth_token,
                              http_client=TwilioHttpClient(timeout=settings.timeout))
        if settings.api_base_url:
            self._client.api.base_url = settings.api_base_url

    def fetch(self, sid: str) -> StatusReport | None:
        """The message's status now; None when Twilio no longer knows the sid (404)."""
        try:
            message = self._client.messages(sid).fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                return None
            raise StatusUnavailable(f"Twilio error {exc.code or exc.status}: {exc.msg}") from None
        except requests.RequestException as exc:
            raise StatusUnavailable(f"cannot reach Twilio: {type(exc).__name__}") from None
        return status_report(message.sid, message.status, message.error_code,
                             message.error_message)
