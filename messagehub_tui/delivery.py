"""Outside a campaign's run: the test send to one address and the dry run of every message
(the campaign is untouched by both)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from messagehub_tui import audience, campaigns
from messagehub_tui.addresses import InvalidAddress, normalise
from messagehub_tui.campaign_compose import effective_sender, make_composer
from messagehub_tui.channels import make_transport
from messagehub_tui.channels.base import ChannelStopped, Outcome, Outgoing, SendResult
from messagehub_tui.compose import RenderError, RenderTooSlow
from messagehub_tui.config import Settings
from messagehub_tui.errors import MessagehubError
from messagehub_tui.models import Campaign, Channel, Contact, db

DRY_RUN_SLOW = 3  # messages past the time limit before a dry run blames the template
TEST_PREFIX = "[test] "
TEST_MARKER = "test"


@dataclass(frozen=True)
class TestSend:
    """What a test send did, and the address it went to in normal form (`415 555 0188` typed,
    `+14155550188` texted): the one to check."""

    address: str
    result: SendResult


def _first_recipient_vars(campaign: Campaign) -> dict:
    contact = audience.campaign_member(campaign)
    if contact is None:
        raise MessagehubError(f"campaign {campaign.id}'s list has no contact to take data from")
    return contact.template_vars()


def _neutral_unsubscribe_vars(variables: dict, tester: str) -> dict:
    """What a test message's unsubscribe links are filled with: the tester's own address and
    "test" for every other field, so no link in it can unsubscribe the contact whose data the
    message borrows (by address, id, token or anything else)."""
    return {**{key: TEST_MARKER for key in variables}, "email": tester, "phone": ""}


def send_test(settings: Settings, campaign_id: int, to: str, prefix: bool = True) -> TestSend:
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
    composer = make_composer(campaign, settings)
    variables = _first_recipient_vars(campaign)
    key = f"test-{int(time.time() * 1000)}"
    try:
        payload = (composer.email_bytes(variables, address, f"{campaign_id}.{key}",
                                        _neutral_unsubscribe_vars(variables, address))
                   if campaign.channel == Channel.EMAIL else composer.sms_text(variables))
    except RenderError as exc:
        raise MessagehubError(f"cannot render the test message: {exc}") from None
    transport = make_transport(settings, campaign.channel, campaign_id,
                               effective_sender(campaign, settings))

    async def deliver() -> SendResult:
        try:
            await transport.open()
            return await transport.send(0, Outgoing(key, address, payload))
        except ChannelStopped as exc:
            return SendResult(Outcome.STOP, reason=str(exc))
        finally:
            await transport.close()

    return TestSend(address, asyncio.run(deliver()))


def dry_run(settings: Settings, campaign_id: int) -> tuple[int, list[tuple[str, str]]]:
    """Render every would-be message without sending; (rendered, [(address, problem)]).

    Stops after DRY_RUN_SLOW messages ran past the time limit: each costs that limit, and a
    template that loops too long does so for (nearly) everyone."""
    campaign = campaigns.get(campaign_id)
    composer = make_composer(campaign, settings)
    column = Contact.email if campaign.channel == Channel.EMAIL else Contact.phone
    suppressed = {row[0] for row in db.execute_sql(
        "SELECT address FROM suppression WHERE channel = ?", (campaign.channel,))}
    rendered, problems, slow = 0, [], 0
    query = (Contact.select().join_from(Contact, audience.ListMember,
                                        on=(audience.ListMember.contact == Contact.id))
             .where((audience.ListMember.contact_list == campaign.contact_list_id)
                    & column.is_null(False)).order_by(Contact.id))
    for contact in query.iterator():
        address = getattr(contact, column.name)
        if address in suppressed:
            continue
        try:
            if campaign.channel == Channel.EMAIL:
                composer.email_bytes(contact.template_vars(), address, "dry-run")
            else:
                composer.sms_text(contact.template_vars())
            rendered += 1
        except RenderError as exc:
            problems.append((address, str(exc)))
            slow += isinstance(exc, RenderTooSlow)
            if slow == DRY_RUN_SLOW:
                problems.append(("the rest", f"not rendered: {slow} messages ran past the time "
                                             "limit, so the template itself is too slow"))
                break
    return rendered, problems
