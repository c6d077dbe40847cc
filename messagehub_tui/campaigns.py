"""Campaign operations shared by the CLI, the TUI and the scheduler: create, edit, preview, counts."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email import message_from_string
from email import policy as email_policy
from email.utils import parseaddr

from messagehub_tui import audience, config_checks
from messagehub_tui.addresses import InvalidAddress, normalise
from messagehub_tui.compose import Composer, RenderError, check_template, sms_info
from messagehub_tui.config import Settings
from messagehub_tui.contacts import get_list
from messagehub_tui.errors import InvalidState, MessagehubError, NotFound
from messagehub_tui.message_id import home_token
from messagehub_tui.models import (
    EDITABLE, PRE_LAUNCH, Campaign, CampaignStatus, Channel, ContactList, db, utcnow,
)
from messagehub_tui.state import CampaignState, DeliveryCounts

DEFAULT_EMAIL_SENDER = "messagehub <messagehub@localhost>"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


def get(campaign_id: int) -> Campaign:
    """The campaign with that id, or NotFound naming it."""
    found = Campaign.get_or_none(Campaign.id == campaign_id)
    if found is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return found


def all_campaigns() -> list[Campaign]:
    """Every campaign, newest first."""
    return list(Campaign.select().order_by(Campaign.id.desc()))


def effective_sender(campaign: Campaign, settings: Settings) -> str:
    """The From of an email campaign, or the From number / messaging service of an SMS one."""
    if campaign.channel == Channel.EMAIL:
        return campaign.sender or settings.email.sender or DEFAULT_EMAIL_SENDER
    return campaign.sender or settings.sms.sender or settings.sms.messaging_service_sid or ""


def make_composer(campaign: Campaign, settings: Settings) -> Composer:
    """The compiled templates of a campaign."""
    email = campaign.channel == Channel.EMAIL
    return Composer(campaign.channel, campaign.body, subject=campaign.subject, html=campaign.html,
                    sender=effective_sender(campaign, settings),
                    unsubscribe=settings.email.unsubscribe if email else None,
                    id_token=home_token() if email else "")


def _check_sender(channel: str, sender: str | None) -> None:
    if not sender:
        return
    if "\r" in sender or "\n" in sender:
        raise MessagehubError("sender must not contain a line break")
    if channel == Channel.EMAIL and "@" not in parseaddr(sender)[1]:
        raise MessagehubError(f"sender {sender!r} is not an email address")
    if channel == Channel.SMS and not (_E164.match(sender) or _SERVICE_SID.match(sender)):
        raise MessagehubError(
            f"sender {sender!r} must be an E.164 number such as +15005550006 or a messaging "
            "service SID")


def validate(settings: Settings, channel: str, contact_list: ContactList | None, body: str,
             subject: str = "", html: str | None = None, sender: str | None = None,
             rate: float | None = None) -> None:
    """Raise a clear error for anything that would stop this campaign from sending."""
    if channel not in (Channel.EMAIL, Channel.SMS):
        raise MessagehubError(f"channel must be email or sms, not {channel!r}")
    if not body.strip():
        raise MessagehubError("the body is empty")
    if channel == Channel.EMAIL and not subject.strip():
        raise MessagehubError("an email campaign needs a subject")
    if "\r" in subject or "\n" in subject:
        raise MessagehubError("the subject must not contain a line break")
    if rate is not None:
        try:
            config_checks.rate(rate)
        except ValueError as exc:
            raise MessagehubError(f"rate {exc}") from None
    _check_sender(channel, sender)
    unsubscribe = settings.email.unsubscribe if channel == Channel.EMAIL else None
    available = Composer.available(unsubscribe) | audience.attribute_names(
        contact_list.id if contact_list else None)
    check_template(body, "body", available)
    for part in config_checks.unsubscribe_parts(unsubscribe or ""):
        check_template(part, "[email] unsubscribe", available - {"unsubscribe_url"})
    if channel == Channel.EMAIL:
        check_template(subject, "subject", available)
        if html:
            check_template(html, "html", available, html=True)


def _check_name(name: str) -> None:
    """A campaign name is one line of text: it goes into tables, logs and one-line messages."""
    if not name.strip():
        raise MessagehubError("the campaign needs a name")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise MessagehubError("the campaign name must be one line, without line breaks or "
                              "control characters")


def create(settings: Settings, name: str, channel: str, list_name: str, body: str,
           subject: str = "", html: str | None = None, sender: str | None = None,
           rate: float | None = None, scheduled_at: datetime | None = None) -> Campaign:
    """A new draft (or scheduled) campaign, after every check that can be made now."""
    _check_name(name)
    contact_list = get_list(list_name)
    validate(settings, channel, contact_list, body, subject, html, sender, rate)
    with db.atomic():
        return Campaign.create(
            name=name.strip(), channel=channel, contact_list=contact_list, subject=subject,
            body=body, html=html or None, sender=sender or None, rate=rate,
            scheduled_at=scheduled_at,
            status=CampaignStatus.SCHEDULED if scheduled_at else CampaignStatus.DRAFT)


def update(settings: Settings, campaign_id: int, **changes) -> Campaign:
    """Edit a campaign that has not been launched; `list_name` picks another list."""
    campaign = get(campaign_id)
    if campaign.status not in EDITABLE:
        raise InvalidState(f"campaign {campaign_id} is {campaign.status}; only a draft, scheduled "
                           "or missed campaign can be edited")
    if "list_name" in changes:
        campaign.contact_list = get_list(changes.pop("list_name"))
    for key, value in changes.items():
        if key not in {"name", "channel", "subject", "body", "html", "sender", "rate"}:
            raise MessagehubError(f"a campaign has no field {key!r}")
        setattr(campaign, key, value)
    _check_name(campaign.name)
    validate(settings, campaign.channel, campaign.contact_list, campaign.body, campaign.subject,
             campaign.html, campaign.sender, campaign.rate)
    campaign.updated_at = utcnow()
    with db.atomic():
        campaign.save()
    return campaign


def delete(campaign_id: int) -> None:
    """Remove a draft for good."""
    with db.atomic():
        deleted = Campaign.delete().where((Campaign.id == campaign_id)
                                          & (Campaign.status == CampaignStatus.DRAFT)).execute()
    if not deleted:
        get(campaign_id)
        raise InvalidState(f"campaign {campaign_id} is not a draft; only drafts can be deleted")


def delivery_counts(campaign_id: int) -> DeliveryCounts:
    """How many deliveries of a launched campaign are in each state, from the kept counters."""
    cursor = db.execute_sql("SELECT status, n FROM delivery_count WHERE campaign_id = ?",
                            (campaign_id,))
    return DeliveryCounts.of(dict(cursor.fetchall()))


def counts(campaign: Campaign) -> DeliveryCounts:
    """Counts by delivery state; a campaign not launched yet counts its would-be recipients."""
    if campaign.status in PRE_LAUNCH:
        total, suppressed = audience.audience_counts(campaign)
        return DeliveryCounts(pending=total - suppressed, skipped=suppressed)
    return delivery_counts(campaign.id)


def state_of(campaign: Campaign) -> CampaignState:
    """A campaign read with its counts (its list read too, unless selected with it)."""
    return CampaignState(
        id=campaign.id, name=campaign.name, channel=campaign.channel, status=campaign.status,
        list_name=campaign.contact_list.name if campaign.contact_list_id else None,
        counts=counts(campaign), scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at, finished_at=campaign.finished_at,
        last_error=campaign.last_error)


def status(campaign_id: int) -> CampaignState:
    """The campaign's state; `to_json()` is what `status --json` prints."""
    return state_of(get(campaign_id))


def preview(settings: Settings, campaign_id: int, contact_address: str | None = None,
            raw: bool = False) -> str:
    """The message one contact (the list's first, or the one named) would get: readable text
    (decoded headers, then each part's text), or with `raw` the email's wire form."""
    campaign = get(campaign_id)
    address = None
    if contact_address:
        try:
            address = normalise(campaign.channel, contact_address, settings.sms.default_region)
        except InvalidAddress as exc:
            raise MessagehubError(str(exc)) from None
    contact = audience.first_member(campaign.contact_list_id, campaign.channel, address)
    if contact is None:
        where = f"with address {contact_address}" if contact_address else "with an address"
        raise NotFound(f"no contact {where} on campaign {campaign_id}'s list")
    text = render_for(campaign, settings, contact.template_vars(),
                      contact.email if campaign.channel == Channel.EMAIL else contact.phone)
    return text if raw or campaign.channel != Channel.EMAIL else readable_email(text)


# Transfer plumbing a reader does not need; `--raw` shows it.
_WIRE_HEADERS = frozenset({"mime-version", "content-type", "content-transfer-encoding"})


def readable_email(wire: str) -> str:
    """An email's wire form as a person reads it: decoded headers, then each part's decoded text
    under a `--- text/plain ---` line."""
    message = message_from_string(wire, policy=email_policy.default)
    lines = [f"{name}: {value}" for name, value in message.items()
             if name.lower() not in _WIRE_HEADERS]
    for part in message.walk():
        if part.is_multipart():
            continue
        lines += ["", f"--- {part.get_content_type()} ---", part.get_content().rstrip("\n")]
    return "\n".join(lines) + "\n"


def render_for(campaign: Campaign, settings: Settings, variables: dict, address: str) -> str:
    """One recipient's message as text: the email's wire form, or the SMS with its segments."""
    composer = make_composer(campaign, settings)
    try:
        if campaign.channel == Channel.EMAIL:
            data = composer.email_bytes(variables, address, f"preview.{campaign.id}")
            return data.decode("ascii").replace("\r\n", "\n")
        text = composer.sms_text(variables)
    except RenderError as exc:
        raise MessagehubError(f"cannot render the message for {address}: {exc}") from None
    info = sms_info(text)
    plural = "" if info.segments == 1 else "s"
    return (f"To: {address}\nFrom: {effective_sender(campaign, settings) or '(outbox)'}\n"
            f"Encoding: {info.encoding}, {info.units} units, {info.segments} segment{plural}\n\n"
            f"{text}")


@dataclass(frozen=True)
class ReadablePreview:
    """A message as its reader sees it: the decoded text first, the headers apart."""

    body: str
    headers: str

    @property
    def summary(self) -> str:
        """The header line a reader looks for first: the subject, or an SMS's segments."""
        wanted = ("subject:", "encoding:")
        return next((line for line in self.headers.splitlines()
                     if line.lower().startswith(wanted)), "headers")


def readable(wire: str, channel: str) -> ReadablePreview:
    """Split `render_for`'s text into decoded body and headers (an email's parts decoded from
    quoted-printable or base64; an HTML part is noted, not shown)."""
    if channel != Channel.EMAIL:
        headers, _, body = wire.partition("\n\n")
        return ReadablePreview(body, headers)
    message = email.message_from_string(wire, policy=email.policy.default)
    text = message.get_body(("plain",))
    body = text.get_content() if text is not None else ""
    if message.get_body(("html",)) is not None:
        body += "\n[the message also has an HTML part]"
    headers = "\n".join(f"{name}: {value}" for name, value in message.items()
                        if not name.lower().startswith(("content-", "mime-")))
    return ReadablePreview(body, headers)


def preview_draft(settings: Settings, channel: str, list_name: str | None, body: str,
                  subject: str = "", html: str | None = None, sender: str | None = None,
                  rate: float | None = None, campaign_id: int | None = None) -> ReadablePreview:
    """An unsaved campaign rendered for its list's first contact, after the checks saving makes;
    raises MessagehubError naming what is wrong."""
    if not list_name:
        raise MessagehubError("choose a list (import contacts with i on the launcher)")
    contact_list = get_list(list_name)
    validate(settings, channel, contact_list, body, subject, html, sender, rate)
    contact = audience.first_member(contact_list.id, channel)
    if contact is None:
        what = "an email address" if channel == Channel.EMAIL else "a phone number"
        raise MessagehubError(f"list {contact_list.name} has nobody with {what}")
    draft = Campaign(id=campaign_id or 0, channel=channel, subject=subject, body=body, html=html,
                     sender=sender)
    address = contact.email if channel == Channel.EMAIL else contact.phone
    return readable(render_for(draft, settings, contact.template_vars(), address), channel)
