"""How a stored campaign's messages are built: its sender and its compiled templates, the same for
the runner, a test send and a preview (the engine's layer, so the runner needs no service)."""

from __future__ import annotations

import functools

from messagehub_tui import signing
from messagehub_tui.compose import Composer
from messagehub_tui.config import Settings
from messagehub_tui.message_id import home_token
from messagehub_tui.models import Campaign, Channel

DEFAULT_EMAIL_SENDER = "messagehub <messagehub@localhost>"


def effective_sender(campaign: Campaign, settings: Settings) -> str:
    """The From of an email campaign, or the From number / messaging service of an SMS one."""
    if campaign.channel == Channel.EMAIL:
        return campaign.sender or settings.email.sender or DEFAULT_EMAIL_SENDER
    return campaign.sender or settings.sms.sender or settings.sms.messaging_service_sid or ""


def make_composer(campaign: Campaign, settings: Settings) -> Composer:
    """The compiled templates of a campaign."""
    email = campaign.channel == Channel.EMAIL
    one_click = email and settings.web.public_url is not None
    return Composer(campaign.channel, campaign.body, subject=campaign.subject, html=campaign.html,
                    sender=effective_sender(campaign, settings),
                    unsubscribe=settings.email.unsubscribe if email else None,
                    id_token=home_token() if email else "",
                    one_click=functools.partial(signing.unsubscribe_link, settings)
                    if one_click else None,
                    mailto_token=functools.partial(signing.delivery_unsubscribe_token, settings)
                    if email else None)
