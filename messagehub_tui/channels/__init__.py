"""Transports behind one interface: open, send one message on a lane → a result, close."""

from __future__ import annotations

from email.utils import parseaddr

from messagehub_tui.channels.base import Transport
from messagehub_tui.config import EmailTransport, Settings, SmsTransport


def make_transport(settings: Settings, channel: str, campaign_id: int, sender: str) -> Transport:
    """The configured transport for a campaign's channel, the outbox unless told otherwise.

    Only the transport in use is imported, so an SMTP runner never loads twilio and aiohttp.
    """
    if channel == "email" and settings.email.transport == EmailTransport.SMTP:
        from messagehub_tui.channels.smtp import SmtpChannel
        return SmtpChannel(settings.email, parseaddr(sender)[1])
    if channel == "sms" and settings.sms.transport == SmsTransport.TWILIO:
        from messagehub_tui.channels.twilio_feedback import status_callback_url
        from messagehub_tui.channels.twilio_sms import TwilioChannel
        return TwilioChannel(settings.sms, sender, status_callback_url(settings.web.public_url))
    from messagehub_tui.channels.outbox import OutboxChannel
    return OutboxChannel(settings.outbox_dir / str(campaign_id), sender)
