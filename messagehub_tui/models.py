"""The Peewee models (tables), bound through a proxy to SQLite or PostgreSQL (database.py opens
it), and the enums of the states they store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum

from peewee import (
    AutoField,
    CompositeKey,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

db = DatabaseProxy()


class CampaignStatus(StrEnum):
    """A campaign's state: draft, scheduled or missed before its launch; queued, then running while
    runners send; then paused or interrupted (its runners died), which resume; completed,
    cancelled or failed at the end."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    MISSED = "missed"
    INTERRUPTED = "interrupted"


# Groups of campaign states, the one home of each rule that asks "is it …".
ACTIVE = frozenset({CampaignStatus.QUEUED, CampaignStatus.RUNNING})
RESUMABLE = frozenset({CampaignStatus.PAUSED, CampaignStatus.INTERRUPTED})
FINISHED = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED})
PRE_LAUNCH = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.MISSED})
EDITABLE = PRE_LAUNCH


class StopRequest(StrEnum):
    """What a user asked of a campaign's runners, which they read between messages."""

    NONE = ""
    PAUSE = "pause"
    CANCEL = "cancel"


class InterruptCause(StrEnum):
    """Why recovery marked a campaign interrupted, stored beside the reason's words so a rule
    (the scheduler's "nobody runs runners") reads the cause, not the text."""

    RUNNER_DIED = "runner_died"  # its runners died or went silent while it ran
    RUNNER_EXITED = "runner_exited"  # the runners started for it all exited before registering
    NOT_PICKED_UP = "not_picked_up"  # queued, and no runner of any host ever took it up


class DeliveryStatus(StrEnum):
    """One recipient's state: pending, sending once a runner claimed it, then sent, failed or
    unknown (handed over without an answer; a retry puts failed and unknown back to pending);
    skipped (suppressed at launch) and cancelled never send."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    """How a campaign reaches people."""

    EMAIL = "email"
    SMS = "sms"


def utcnow() -> datetime:
    """The current time as a naive UTC datetime, the form every stored time takes."""
    return datetime.now(UTC).replace(tzinfo=None)


def utcnow_text() -> str:
    """`utcnow()` as the text a stored time is (sqlite3's adapter writes isoformat(" ")): bound
    as text, a batch of result rows skips that adapter, a Python call for every row."""
    return str(utcnow())


def iso_utc(moment: datetime | None) -> str | None:
    """A stored naive-UTC time as ISO-8601 with its Z, or None."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat() + "Z"


_decode = json.JSONDecoder().decode


def template_vars(email: str | None, phone: str | None, first_name: str | None,
                  last_name: str | None, attributes: str | None) -> dict[str, str]:
    """A contact's template variables: its attribute columns plus the four named fields."""
    values = _decode(attributes) if attributes and attributes != "{}" else {}
    values.update(first_name=first_name or "", last_name=last_name or "", email=email or "",
                  phone=phone or "")
    return values


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Meta(BaseModel):
    """Key/value facts about the database itself, such as its schema version."""

    key = TextField(primary_key=True)
    value = TextField()


# Meta's keys (bounces/store.py adds one per mailbox folder it reads).
SCHEMA_VERSION_KEY = "schema_version"
AUDIENCE_VERSION_KEY = "audience_version"


class Contact(BaseModel):
    """One person: an email address and/or an E.164 phone, names, and extra CSV columns."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    email = TextField(null=True, unique=True)
    phone = TextField(null=True, unique=True)
    first_name = TextField(default="")
    last_name = TextField(default="")
    attributes = TextField(default="{}")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    def template_vars(self) -> dict[str, str]:
        """The variables a template sees for this contact."""
        return template_vars(self.email, self.phone, self.first_name, self.last_name,
                             self.attributes)


class ContactList(BaseModel):
    """A named list of contacts that campaigns are sent to."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    name = TextField(unique=True)
    created_at = DateTimeField(default=utcnow)


class ListMember(BaseModel):
    """Membership of a contact in a list."""

    contact_list = ForeignKeyField(ContactList, backref="members", on_delete="CASCADE")
    contact = ForeignKeyField(Contact, backref="memberships", on_delete="CASCADE")

    class Meta:
        primary_key = CompositeKey("contact_list", "contact")


class Campaign(BaseModel):
    """A message to a list over one channel, with its state and timings."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    name = TextField()
    channel = TextField()
    status = TextField(default=CampaignStatus.DRAFT.value, index=True)
    contact_list = ForeignKeyField(ContactList, null=True, on_delete="SET NULL")
    contact_list_id: int | None  # the foreign key's own column, which peewee adds
    subject = TextField(default="")
    body = TextField()
    html = TextField(null=True)
    sender = TextField(null=True)
    rate = FloatField(null=True)
    scheduled_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    interrupt_cause = TextField(null=True)  # an InterruptCause, written with status interrupted
    # Written by control.pause/cancel, read by runners; the column keeps its first name.
    stop_request = TextField(default=StopRequest.NONE.value, column_name="control")
    auto_resume = IntegerField(default=0)


class Suppression(BaseModel):
    """An address that must never be sent to on a channel."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    channel = TextField()
    address = TextField()
    reason = TextField(default="")
    # The campaign whose feedback (unsubscribe, bounce, complaint, STOP) caused it, if any.
    campaign = ForeignKeyField(Campaign, null=True, on_delete="SET NULL")
    campaign_id: int | None  # the foreign key's own column, which peewee adds
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("channel", "address"), True),)


class Delivery(BaseModel):
    """One recipient of one campaign: its address, state, attempts and provider id."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    campaign = ForeignKeyField(Campaign, backref="deliveries", on_delete="CASCADE")
    contact = ForeignKeyField(Contact, null=True, on_delete="SET NULL")
    campaign_id: int  # the foreign keys' own columns, which peewee adds
    contact_id: int | None
    address = TextField()
    status = TextField(default=DeliveryStatus.PENDING.value)
    attempts = IntegerField(default=0)
    next_attempt_at = FloatField(default=0)
    provider_id = TextField(null=True)
    error = TextField(null=True)
    runner_id = IntegerField(null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("campaign", "address"), True),
            (("campaign", "status", "next_attempt_at"), False),
            # Twilio's callbacks name a delivery by its MessageSid; replies by the number
            (("provider_id",), False),
            (("address",), False),
        )


class Event(BaseModel):
    """Something that happened to a campaign, for the monitor and the log."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    campaign = ForeignKeyField(Campaign, backref="events", null=True, on_delete="CASCADE")
    at = DateTimeField(default=utcnow, index=True)
    level = TextField(default="info")
    message = TextField()


class Runner(BaseModel):
    """A live runner process of a campaign: where it runs and when it last said so.

    Ids are never reused (SQLite: the table is made AUTOINCREMENT by schema.MIGRATIONS[3], also
    for a new database; PostgreSQL: its sequence): a runner declared dead and woken up again must
    not find a newer runner's row under its own id.
    """

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    campaign = ForeignKeyField(Campaign, backref="runners", on_delete="CASCADE")
    campaign_id: int  # the foreign key's own column, which peewee adds
    pid = IntegerField()
    host = TextField()
    started_at = DateTimeField(default=utcnow)
    heartbeat_at = FloatField()


class RateSlot(BaseModel):
    """The next free send time of one sender, shared by every process sending as it."""

    sender_key = TextField(primary_key=True)
    next_at = FloatField()


class DeliveryCount(BaseModel):
    """Deliveries per campaign and state, kept exact by triggers so counting is one cheap read."""

    campaign = ForeignKeyField(Campaign, on_delete="CASCADE")
    status = TextField()
    n = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("campaign", "status")


class Feedback(BaseModel):
    """One signal heard back about a delivery (kinds in feedback.FeedbackKind), kept once per
    idempotency key so a repeated report, callback or click counts once."""

    id = AutoField()  # peewee adds it anyway; declared, it has a type

    key = TextField(unique=True)
    delivery = ForeignKeyField(Delivery, null=True, on_delete="SET NULL")
    campaign = ForeignKeyField(Campaign, null=True, on_delete="CASCADE")
    delivery_id: int | None  # the foreign keys' own columns, which peewee adds
    campaign_id: int | None
    kind = TextField()
    detail = TextField(default="")
    at = DateTimeField(default=utcnow)

    class Meta:
        # an address's soft bounces within a window (bounces/store.py)
        indexes = ((("kind", "at"), False),)


class FeedbackCount(BaseModel):
    """Feedback per campaign and kind, kept by feedback.record in the recording transaction so
    rates are one cheap read."""

    campaign = ForeignKeyField(Campaign, on_delete="CASCADE")
    kind = TextField()
    n = IntegerField(default=0)

    class Meta:
        primary_key = CompositeKey("campaign", "kind")


ALL_MODELS = [Meta, Contact, ContactList, ListMember, Suppression, Campaign, Delivery, Event,
              Runner, RateSlot, DeliveryCount, Feedback, FeedbackCount]


def bump_audience_version() -> None:
    """Say, inside the writing transaction, that contacts, memberships or suppressions changed."""
    db.execute_sql("INSERT INTO meta (key, value) VALUES (?, '1') "
                   "ON CONFLICT (key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1",
                   (AUDIENCE_VERSION_KEY,))


def audience_version() -> str:
    """Changes whenever any process changed who a list would reach."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = ?", (AUDIENCE_VERSION_KEY,)).fetchone()
    return row[0] if row else "0"
