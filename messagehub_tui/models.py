"""Peewee models over SQLite in WAL mode, bound through a proxy; schema versions and upgrades."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from peewee import (
    AutoField,
    CompositeKey,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

from messagehub_tui.errors import MessagehubError

db = DatabaseProxy()

SCHEMA_VERSION = 6


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


def iso_utc(moment: datetime | None) -> str | None:
    """A stored naive-UTC time as ISO-8601 with its Z, or None."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat() + "Z"


def template_vars(email: str | None, phone: str | None, first_name: str | None,
                  last_name: str | None, attributes: str | None) -> dict[str, str]:
    """A contact's template variables: its attribute columns plus the four named fields."""
    values = json.loads(attributes) if attributes and attributes != "{}" else {}
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

    Ids are never reused (the table is made AUTOINCREMENT by MIGRATIONS[3], also for a new
    database): a runner declared dead and woken up again must not find a newer runner's row
    under its own id.
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

_COUNT_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS delivery_count_insert AFTER INSERT ON delivery BEGIN
         INSERT INTO delivery_count (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
         ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
       END""",
    """CREATE TRIGGER IF NOT EXISTS delivery_count_update AFTER UPDATE OF status ON delivery
       WHEN OLD.status != NEW.status BEGIN
         UPDATE delivery_count SET n = n - 1
           WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
         INSERT INTO delivery_count (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
         ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
       END""",
    """CREATE TRIGGER IF NOT EXISTS delivery_count_delete AFTER DELETE ON delivery BEGIN
         UPDATE delivery_count SET n = n - 1
           WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
       END""",
]

MIGRATIONS: dict[int, list[str]] = {
    2: [
        "ALTER TABLE campaign ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 0",
        'CREATE TABLE IF NOT EXISTS "runner" ("id" INTEGER NOT NULL PRIMARY KEY, '
        '"campaign_id" INTEGER NOT NULL, "pid" INTEGER NOT NULL, "host" TEXT NOT NULL, '
        '"started_at" DATETIME NOT NULL, "heartbeat_at" REAL NOT NULL, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE)',
        'CREATE INDEX IF NOT EXISTS "runner_campaign_id" ON "runner" ("campaign_id")',
        'CREATE TABLE IF NOT EXISTS "rate_slot" ("sender_key" TEXT NOT NULL PRIMARY KEY, '
        '"next_at" REAL NOT NULL)',
        'CREATE TABLE IF NOT EXISTS "delivery_count" ("campaign_id" INTEGER NOT NULL, '
        '"status" TEXT NOT NULL, "n" INTEGER NOT NULL, PRIMARY KEY ("campaign_id", "status"), '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE)',
        "INSERT INTO delivery_count (campaign_id, status, n) "
        "SELECT campaign_id, status, COUNT(*) FROM delivery GROUP BY campaign_id, status",
        *_COUNT_TRIGGERS,
    ],
    3: [
        'CREATE TABLE "runner_v3" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"campaign_id" INTEGER NOT NULL, "pid" INTEGER NOT NULL, "host" TEXT NOT NULL, '
        '"started_at" DATETIME NOT NULL, "heartbeat_at" REAL NOT NULL, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE)',
        'INSERT INTO "runner_v3" SELECT "id", "campaign_id", "pid", "host", "started_at", '
        '"heartbeat_at" FROM "runner"',
        'DROP TABLE "runner"',
        'ALTER TABLE "runner_v3" RENAME TO "runner"',
        'CREATE INDEX IF NOT EXISTS "runner_campaign_id" ON "runner" ("campaign_id")',
        # New ids start past every id a delivery row still names, not only past live rows.
        "DELETE FROM sqlite_sequence WHERE name = 'runner'",
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'runner', MAX("
        "COALESCE((SELECT MAX(id) FROM runner), 0), "
        "COALESCE((SELECT MAX(runner_id) FROM delivery), 0))",
    ],
    # every recognised bounce and complaint, once per report (into feedback since 6)
    4: [
        'CREATE TABLE IF NOT EXISTS "bounce" ("id" INTEGER NOT NULL PRIMARY KEY, '
        '"message_key" TEXT NOT NULL UNIQUE, "kind" TEXT NOT NULL, "address" TEXT, '
        '"delivery_id" INTEGER REFERENCES "delivery" ("id") ON DELETE SET NULL, '
        '"campaign_id" INTEGER REFERENCES "campaign" ("id") ON DELETE SET NULL, '
        '"diagnostic" TEXT NOT NULL, "at" DATETIME NOT NULL)',
        'CREATE INDEX IF NOT EXISTS "bounce_address_kind_at" ON "bounce" ("address", "kind", "at")',
    ],
    # feedback.py: every signal heard back, once per key, with per-campaign counts; the campaign
    # a suppression came from. A new database gets the same from create_tables(ALL_MODELS).
    5: [
        'CREATE TABLE IF NOT EXISTS "feedback" ("id" INTEGER NOT NULL PRIMARY KEY, '
        '"key" TEXT NOT NULL, "delivery_id" INTEGER, "campaign_id" INTEGER, '
        '"kind" TEXT NOT NULL, "detail" TEXT NOT NULL, "at" DATETIME NOT NULL, '
        'FOREIGN KEY ("delivery_id") REFERENCES "delivery" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE)',
        'CREATE UNIQUE INDEX IF NOT EXISTS "feedback_key" ON "feedback" ("key")',
        'CREATE INDEX IF NOT EXISTS "feedback_delivery_id" ON "feedback" ("delivery_id")',
        'CREATE INDEX IF NOT EXISTS "feedback_campaign_id" ON "feedback" ("campaign_id")',
        'CREATE TABLE IF NOT EXISTS "feedback_count" ("campaign_id" INTEGER NOT NULL, '
        '"kind" TEXT NOT NULL, "n" INTEGER NOT NULL, PRIMARY KEY ("campaign_id", "kind"), '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE)',
        'CREATE INDEX IF NOT EXISTS "feedback_count_campaign_id" ON "feedback_count" '
        '("campaign_id")',
        'ALTER TABLE "suppression" ADD COLUMN "campaign_id" INTEGER '
        'REFERENCES "campaign" ("id") ON DELETE SET NULL',
        'CREATE INDEX IF NOT EXISTS "suppression_campaign_id" ON "suppression" ("campaign_id")',
        'CREATE INDEX IF NOT EXISTS "delivery_provider_id" ON "delivery" ("provider_id")',
        'CREATE INDEX IF NOT EXISTS "delivery_address" ON "delivery" ("address")',
    ],
    # The bounce table of v4 becomes feedback rows (one home for what was heard back); kinds as
    # bounces/parse.Kind and feedback.FeedbackKind spelled them when this was written.
    6: [
        'CREATE INDEX IF NOT EXISTS "feedback_kind_at" ON "feedback" ("kind", "at")',
        "INSERT OR IGNORE INTO feedback (key, delivery_id, campaign_id, kind, detail, at) "
        "SELECT 'bounce:' || message_key, delivery_id, campaign_id, CASE kind "
        "WHEN 'hard' THEN 'bounced' WHEN 'soft' THEN 'soft_bounced' "
        "WHEN 'complaint' THEN 'complained' ELSE 'unsubscribed' END, "
        "substr(diagnostic, 1, 500), at FROM bounce",
        "INSERT INTO feedback_count (campaign_id, kind, n) "
        "SELECT campaign_id, kind, COUNT(*) FROM feedback WHERE campaign_id IS NOT NULL "
        "GROUP BY campaign_id, kind "
        'ON CONFLICT ("campaign_id", "kind") DO UPDATE SET n = excluded.n',
        'DROP TABLE IF EXISTS "bounce"',
    ],
}


def bump_audience_version() -> None:
    """Say, inside the writing transaction, that contacts, memberships or suppressions changed."""
    db.execute_sql("INSERT INTO meta (key, value) VALUES ('audience_version', '1') "
                   "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")


def audience_version() -> str:
    """Changes whenever any process changed who a list would reach."""
    row = db.execute_sql("SELECT value FROM meta WHERE key = 'audience_version'").fetchone()
    return row[0] if row else "0"


def make_database(path: Path | str) -> SqliteDatabase:
    """A SQLite database in WAL mode whose write transactions begin IMMEDIATE."""
    return SqliteDatabase(
        str(path),
        pragmas={"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1,
                 "synchronous": 1, "cache_size": -16000},
        timeout=30,
        lock_type="IMMEDIATE",
    )


def _stored_version(database: SqliteDatabase) -> int | None:
    if not database.table_exists("meta"):
        return None
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else None


def _set_version(version: int) -> None:
    Meta.insert(key="schema_version", value=str(version)).on_conflict_replace().execute()


def open_db(path: Path | str) -> SqliteDatabase:
    """Open (creating or upgrading) the database at path and bind the models to it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    database = make_database(path)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    if _stored_version(database) == SCHEMA_VERSION:
        return database  # the usual case is a read: a read-only command never waits for a writer
    with database.atomic():
        version = _stored_version(database)
        if version is None:
            database.create_tables(ALL_MODELS)
            for statement in [*_COUNT_TRIGGERS, *MIGRATIONS[3]]:
                database.execute_sql(statement)
            _set_version(SCHEMA_VERSION)
        elif version > SCHEMA_VERSION:
            raise MessagehubError(
                f"{path} was made by a newer messagehub-tui (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade messagehub-tui")
        else:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    database.execute_sql(statement)
                _set_version(step)
    return database


def close_db() -> None:
    """Close this thread's connection, if the proxy is bound."""
    if db.obj is not None and not db.is_closed():
        db.close()
