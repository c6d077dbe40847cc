"""Campaign operations shared by the CLI, the TUI and the scheduler: create, edit, delete, checks,
state and counts (what a message looks like is preview.py)."""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from messagehub_tui import audience, config_checks, feedback
from messagehub_tui.compose import Composer, check_template
from messagehub_tui.config import Settings
from messagehub_tui.errors import InvalidState, MessagehubError, NotFound
from messagehub_tui.events import record_event
from messagehub_tui.feedback import FeedbackCounts
from messagehub_tui.models import (
    ACTIVE,
    EDITABLE,
    PRE_LAUNCH,
    Campaign,
    CampaignStatus,
    Channel,
    ContactList,
    db,
    utcnow,
)
from messagehub_tui.state import CampaignState, DeliveryCounts
from messagehub_tui.timefmt import local_text
from messagehub_tui.workers import registry


def read_template(path: Path, what: str) -> str:
    """A template file's text (the body, the HTML part), for the CLI and the editor alike; one
    line naming the file when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MessagehubError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise MessagehubError(f"the {what} file {path} is not UTF-8 text") from None


def get(campaign_id: int) -> Campaign:
    """The campaign with that id, or NotFound naming it."""
    found = Campaign.get_or_none(Campaign.id == campaign_id)
    if found is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return found


def all_campaigns() -> list[Campaign]:
    """Every campaign, newest first."""
    return list(Campaign.select().order_by(Campaign.id.desc()))


def _check_sender(channel: str, sender: str | None) -> None:
    if not sender:
        return
    if "\r" in sender or "\n" in sender:
        raise MessagehubError("sender must not contain a line break")
    if channel == Channel.EMAIL and "@" not in parseaddr(sender)[1]:
        raise MessagehubError(f"sender {sender!r} is not an email address")
    if channel == Channel.SMS and not (config_checks.E164.match(sender)
                                        or config_checks.SERVICE_SID.match(sender)):
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
    one_click = channel == Channel.EMAIL and settings.web.public_url is not None
    available = Composer.available(unsubscribe, one_click) | audience.attribute_names(
        contact_list.id if contact_list else None)
    check_template(body, "body", available, sms=channel == Channel.SMS)
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
    if not config_checks.is_one_line(name):
        raise MessagehubError("the campaign name must be one line, without line breaks or "
                              "control characters")


def _list_named(name: str) -> ContactList:
    # imported here: contacts loads the importer (email_validator, phonenumbers), which every
    # runner process would otherwise load at start for nothing
    from messagehub_tui.contacts import get_list
    return get_list(name)


def create(settings: Settings, name: str, channel: str, list_name: str, body: str,
           subject: str = "", html: str | None = None, sender: str | None = None,
           rate: float | None = None, scheduled_at: datetime | None = None) -> Campaign:
    """A new draft (or scheduled) campaign, after every check that can be made now."""
    _check_name(name)
    contact_list = _list_named(list_name)
    validate(settings, channel, contact_list, body, subject, html, sender, rate)
    with db.atomic():
        campaign = Campaign.create(
            name=name.strip(), channel=channel, contact_list=contact_list, subject=subject,
            body=body, html=html or None, sender=sender or None, rate=rate,
            scheduled_at=scheduled_at,
            status=CampaignStatus.SCHEDULED if scheduled_at else CampaignStatus.DRAFT)
    if scheduled_at:
        record_event(settings.logs_dir, campaign.id, scheduled_event(scheduled_at))
    return campaign


def scheduled_event(at: datetime) -> str:
    """The event a campaign's log shows when it is given a time (at create or later)."""
    return f"scheduled for {local_text(at)}"


def uneditable(campaign_id: int, status: str) -> str | None:
    """Why a campaign in `status` cannot be edited, or None: the app asks before opening the
    editor."""
    if status in EDITABLE:
        return None
    return (f"campaign {campaign_id} is {status}; only a draft, scheduled or missed campaign can "
            "be edited")


def update(settings: Settings, campaign_id: int, **changes: Any) -> Campaign:
    """Edit a campaign that has not been launched; `list_name` picks another list."""
    campaign = get(campaign_id)
    if why := uneditable(campaign_id, campaign.status):
        raise InvalidState(why)
    if "list_name" in changes:
        campaign.contact_list = _list_named(changes.pop("list_name"))
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


def state_of(campaign: Campaign, host: str | None = None) -> CampaignState:
    """A campaign read with its counts (its list read too, unless selected with it). Given the
    reader's `host`, a running campaign also says whether its runners are all gone."""
    status_now = CampaignStatus(campaign.status)
    return CampaignState(
        id=campaign.id, name=campaign.name, channel=Channel(campaign.channel),
        status=status_now,
        list_name=campaign.contact_list.name if campaign.contact_list is not None else None,
        counts=counts(campaign), scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at, finished_at=campaign.finished_at,
        last_error=campaign.last_error,
        # A status change stamps updated_at, and a campaign that stopped sending changes no more.
        stopped_at=(None if campaign.status in ACTIVE
                    else campaign.finished_at or campaign.updated_at),
        feedback=(FeedbackCounts() if campaign.status in PRE_LAUNCH
                  else feedback.counts(campaign.id)),
        runners_gone=(host is not None and status_now == CampaignStatus.RUNNING
                      and registry.runners_gone(campaign.id, host)))


def status(campaign_id: int, host: str | None = None) -> CampaignState:
    """The campaign's state; `to_json()` is what `status --json` prints."""
    return state_of(get(campaign_id), host)
