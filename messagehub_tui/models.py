"""Peewee models bound through a proxy to SQLite or PostgreSQL (engines.py); opening, creating
and upgrading the schema (schema.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import cast

from peewee import (
    AutoField,
    CompositeKey,
    Database,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)
from peewee import __exception_wrapper__ as _as_peewee_errors  # type: ignore[attr-defined]

from messagehub_tui.engines import (
    Engine,
    PgDatabase,
    describe,
    engine_of,
    is_url,
    make_database,
)
from messagehub_tui.errors import MessagehubError
from messagehub_tui.schema import SCHEMA_VERSION, fresh_statements, upgrade_statements

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
    db.execute_sql("INSERT INTO meta (key, value) VALUES ('audience_version', '1') "
                   "ON CONFLICT (key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1")


def audience_version() -> str:
    """Changes whenever any process changed who a list would reach."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = 'audience_version'").fetchone()
    return row[0] if row else "0"


def on_postgres() -> bool:
    """Whether the bound database is PostgreSQL (SQL that differs asks this, nothing else)."""
    return engine_of(db.obj) is Engine.POSTGRES


def bound_url() -> str | None:
    """The PostgreSQL URL the models are bound to; None for SQLite or when unbound."""
    return _pg().url if db.obj is not None and on_postgres() else None


def _pg() -> PgDatabase:
    return cast(PgDatabase, db.obj)


def executemany(sql: str, rows: list) -> int:
    """Run one statement (with `?` placeholders) once per row; how many rows it changed."""
    if not rows:
        return 0
    with _as_peewee_errors:  # driver errors become peewee's, as from execute_sql
        cursor = db.cursor()
        cursor.executemany(_pg().translate(sql) if on_postgres() else sql, rows)
        return cursor.rowcount


def lock_counters(campaign_id: int | None = None, runner_id: int | None = None) -> None:
    """PostgreSQL: take a campaign's delivery counters (or those of the campaigns a runner holds
    deliveries of) before changing any delivery. The counter triggers take them anyway, but only
    after the statement locked its deliveries: a claim holding a delivery row (SKIP LOCKED still
    locks a row it then finds taken) while waiting for the counters that a result-recording
    transaction holds, which waits for that row, is a deadlock. Taken first, never."""
    if not on_postgres():
        return  # SQLite's write transactions already run one at a time
    which = "campaign_id = ?" if campaign_id is not None else (
        "campaign_id IN (SELECT DISTINCT campaign_id FROM delivery WHERE runner_id = ?)")
    db.execute_sql(f"SELECT 1 FROM delivery_count WHERE {which} "
                   "ORDER BY campaign_id, status FOR UPDATE",
                   (campaign_id if campaign_id is not None else runner_id,))


@contextmanager
def concurrent_transaction() -> Iterator[None]:
    """A write transaction that needs no other writer to wait: it changes only rows it locks
    (its claims, its results, its runner's heartbeat, a rate slot). SQLite has one writer at a
    time anyway; on PostgreSQL it skips the lock that serialises every other write transaction."""
    if not on_postgres():
        with db.atomic():
            yield
        return
    previous = _pg().set_concurrent(True)
    try:
        with db.atomic():
            yield
    finally:
        _pg().set_concurrent(previous)


def _stored_version(database: Database) -> int | None:
    if not database.table_exists("meta"):
        return None
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else None


def _set_version(version: int) -> None:
    Meta.insert(key="schema_version", value=str(version)).on_conflict(
        conflict_target=[Meta.key], update={Meta.value: str(version)}).execute()


def open_db(location: Path | str) -> Database:
    """Open (creating or upgrading) the database at a path (SQLite) or a postgresql:// URL
    (Settings.db_location) and bind the models to it."""
    if not is_url(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    database = make_database(location)
    engine = engine_of(database)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    if _stored_version(database) == SCHEMA_VERSION:
        return database  # the usual case is a read: a read-only command never waits for a writer
    with database.atomic():
        version = _stored_version(database)
        if version is None:
            database.create_tables(ALL_MODELS)
            for statement in fresh_statements(engine):
                database.execute_sql(statement)
            _set_version(SCHEMA_VERSION)
        elif version > SCHEMA_VERSION:
            raise MessagehubError(
                f"{describe(location)} was made by a newer messagehub-tui (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade messagehub-tui")
        else:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in upgrade_statements(step, engine):
                    database.execute_sql(statement)
                _set_version(step)
    return database


def close_db() -> None:
    """Close this thread's connection, if the proxy is bound."""
    if db.obj is not None and not db.is_closed():
        db.close()
