"""What a message looks like before it is sent: `preview` (the CLI), `preview_draft` (the editor),
both decoded from the wire form by one parse."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_string
from email import policy as email_policy

from messagehub_tui import audience
from messagehub_tui.addresses import InvalidAddress, normalise
from messagehub_tui.campaign_compose import effective_sender, make_composer
from messagehub_tui.campaigns import get, validate
from messagehub_tui.compose import SMS_MAX_CHARS, RenderError, sms_info
from messagehub_tui.config import Settings
from messagehub_tui.contacts import get_list
from messagehub_tui.errors import MessagehubError, NotFound
from messagehub_tui.models import Campaign, Channel, Contact

# Transfer plumbing a reader does not need; `--raw` shows it.
_WIRE_HEADERS = frozenset({"mime-version", "content-type", "content-transfer-encoding"})


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
    # On the Encoding line, which the editor shows first: such a text fails for every recipient.
    too_long = (f"; too long: Twilio refuses texts over {SMS_MAX_CHARS:,} characters "
                "(error 21617)") if len(text) > SMS_MAX_CHARS else ""
    return (f"To: {address}\nFrom: {effective_sender(campaign, settings) or '(outbox)'}\n"
            f"Encoding: {info.encoding}, {info.units} units, {info.segments} segment{plural}"
            f"{too_long}\n\n{text}")


def _address(contact: Contact, channel: str) -> str:
    address = contact.email if channel == Channel.EMAIL else contact.phone
    assert address is not None, "audience.first_member returns contacts with an address"
    return address


@dataclass(frozen=True)
class DecodedEmail:
    """An email's wire form parsed once: its headers decoded, each leaf part's decoded text."""

    headers: list[tuple[str, str]]
    parts: list[tuple[str, str]]  # (content type, text)

    @classmethod
    def parse(cls, wire: str) -> DecodedEmail:
        message = message_from_string(wire, policy=email_policy.default)
        return cls([(name, str(value)) for name, value in message.items()],
                   [(part.get_content_type(), part.get_content()) for part in message.walk()
                    if not part.is_multipart()])

    def text_of(self, content_type: str) -> str | None:
        return next((text for kind, text in self.parts if kind == content_type), None)


def readable_email(wire: str) -> str:
    """An email's wire form as a person reads it: decoded headers, then each part's decoded text
    under a `--- text/plain ---` line."""
    decoded = DecodedEmail.parse(wire)
    lines = [f"{name}: {value}" for name, value in decoded.headers
             if name.lower() not in _WIRE_HEADERS]
    for content_type, text in decoded.parts:
        lines += ["", f"--- {content_type} ---", text.rstrip("\n")]
    return "\n".join(lines) + "\n"


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
    contact = audience.campaign_member(campaign, address)
    if contact is None:
        where = f"with address {contact_address}" if contact_address else "with an address"
        raise NotFound(f"no contact {where} on campaign {campaign_id}'s list")
    text = render_for(campaign, settings, contact.template_vars(),
                      _address(contact, campaign.channel))
    return text if raw or campaign.channel != Channel.EMAIL else readable_email(text)


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
    decoded = DecodedEmail.parse(wire)
    body = decoded.text_of("text/plain") or ""
    if decoded.text_of("text/html") is not None:
        body += "\n[the message also has an HTML part]"
    headers = "\n".join(f"{name}: {value}" for name, value in decoded.headers
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
    return readable(render_for(draft, settings, contact.template_vars(),
                               _address(contact, channel)), channel)
