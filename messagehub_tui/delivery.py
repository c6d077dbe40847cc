"""Sending outside a campaign's run: the test send to one address (the campaign is untouched)."""

from __future__ import annotations

import asyncio
import time

from messagehub_tui import audience, campaigns
from messagehub_tui.addresses import InvalidAddress, normalise
from messagehub_tui.channels import make_transport
from messagehub_tui.channels.base import ChannelStopped, Outcome, Outgoing, SendResult
from messagehub_tui.compose import RenderError
from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Campaign, Channel

TEST_PREFIX = "[test] "
TEST_MARKER = "test"


def _first_recipient_vars(campaign: Campaign) -> dict:
    contact = audience.first_member(campaign.contact_list_id, campaign.channel)
    if contact is None:
        raise MessagehubError(f"campaign {campaign.id}'s list has no contact to take data from")
    return contact.template_vars()


def _neutral_unsubscribe_vars(variables: dict, tester: str) -> dict:
    """What a test message's unsubscribe links are filled with: the tester's own address and
    "test" for every other field, so no link in it can unsubscribe the contact whose data the
    message borrows (by address, id, token or anything else)."""
    return {**{key: TEST_MARKER for key in variables}, "email": tester, "phone": ""}


def send_test(settings: Settings, campaign_id: int, to: str, prefix: bool = True) -> SendResult:
    """Send one message to `to`, rendered with the first recipient's data but unsubscribe links
    that name only the tester, its subject (an SMS: its text) starting with "[test] " unless
    `prefix` is false; the campaign is untouched."""
    campaign = campaigns.get(campaign_id)
    try:
        address = normalise(campaign.channel, to, settings.sms.default_region)
    except InvalidAddress as exc:
        raise MessagehubError(str(exc)) from None
    if prefix:
        # Only this in-memory copy changes; the campaign is never saved here.
        if campaign.channel == Channel.EMAIL:
            campaign.subject = TEST_PREFIX + campaign.subject
        else:
            campaign.body = TEST_PREFIX + campaign.body
    composer = campaigns.make_composer(campaign, settings)
    variables = _first_recipient_vars(campaign)
    key = f"test-{int(time.time() * 1000)}"
    try:
        payload = (composer.email_bytes(variables, address, f"{campaign_id}.{key}",
                                        _neutral_unsubscribe_vars(variables, address))
                   if campaign.channel == Channel.EMAIL else composer.sms_text(variables))
    except RenderError as exc:
        raise MessagehubError(f"cannot render the test message: {exc}") from None
    transport = make_transport(settings, campaign.channel, campaign_id,
                               campaigns.effective_sender(campaign, settings))

    async def deliver() -> SendResult:
        try:
            await transport.open()
            return await transport.send(0, Outgoing(key, address, payload))
        except ChannelStopped as exc:
            return SendResult(Outcome.STOP, reason=str(exc))
        finally:
            await transport.close()

    return asyncio.run(deliver())
