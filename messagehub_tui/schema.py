"""The statements beyond peewee's create_tables, per engine: the delivery counters' triggers and
the versioned migrations. Migrations are written in SQLite's dialect; `for_engine` rewrites the
few type names PostgreSQL spells differently, so one list serves both."""

from __future__ import annotations

import re

from messagehub_tui.engines import Engine

SCHEMA_VERSION = 7
# PostgreSQL support arrived with schema 4: only the migrations after it ever run on a PostgreSQL
# database. Those before it are SQLite's history (3 rebuilds a table for AUTOINCREMENT, which
# PostgreSQL's sequences give anyway).
# A new database is made by create_tables (the models hold every later table, column and index),
# then these steps: on SQLite the AUTOINCREMENT rebuild of 3, on PostgreSQL nothing (a sequence).
SQLITE_FRESH_STEPS = (3,)

SQLITE_COUNT_TRIGGERS = [
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

# The trigger functions, by name (migrate-db drops them to leave a target empty again).
PG_COUNT_FUNCTIONS = ("delivery_count_inserted", "delivery_count_deleted", "delivery_count_updated")
_INSERTED, _DELETED, _UPDATED = PG_COUNT_FUNCTIONS

# PostgreSQL: statement-level triggers over transition tables, one upsert per statement however
# many rows it changed. Each first locks the counter rows of the campaigns it touches, in one
# order: two transactions moving deliveries between states (a claim: pending -> sending; a retry:
# sending -> pending) would otherwise lock the same two counters in opposite orders and deadlock.
_PG_LOCK = ("PERFORM 1 FROM delivery_count WHERE campaign_id IN "
            "(SELECT campaign_id FROM {rows}) ORDER BY campaign_id, status FOR UPDATE;")
PG_COUNT_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION {_INSERTED}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          {_PG_LOCK.format(rows="new_rows")}
          INSERT INTO delivery_count (campaign_id, status, n)
            SELECT campaign_id, status, COUNT(*) FROM new_rows GROUP BY campaign_id, status
            ORDER BY campaign_id, status
          ON CONFLICT (campaign_id, status) DO UPDATE SET n = delivery_count.n + excluded.n;
          RETURN NULL;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION {_DELETED}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          {_PG_LOCK.format(rows="old_rows")}
          UPDATE delivery_count c SET n = c.n - d.n
            FROM (SELECT campaign_id, status, COUNT(*) AS n FROM old_rows
                  GROUP BY campaign_id, status) d
            WHERE c.campaign_id = d.campaign_id AND c.status = d.status;
          RETURN NULL;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION {_UPDATED}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
                         WHERE o.status IS DISTINCT FROM n.status) THEN
            RETURN NULL;
          END IF;
          {_PG_LOCK.format(rows="new_rows")}
          INSERT INTO delivery_count (campaign_id, status, n)
            SELECT campaign_id, status, SUM(n) FROM (
              SELECT campaign_id, status, 1 AS n FROM new_rows
              UNION ALL SELECT campaign_id, status, -1 FROM old_rows) AS moves
            GROUP BY campaign_id, status HAVING SUM(n) <> 0 ORDER BY campaign_id, status
          ON CONFLICT (campaign_id, status) DO UPDATE SET n = delivery_count.n + excluded.n;
          RETURN NULL;
        END $$""",
    "CREATE OR REPLACE TRIGGER delivery_count_insert AFTER INSERT ON delivery "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    f"EXECUTE FUNCTION {_INSERTED}()",
    "CREATE OR REPLACE TRIGGER delivery_count_delete AFTER DELETE ON delivery "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    f"EXECUTE FUNCTION {_DELETED}()",
    "CREATE OR REPLACE TRIGGER delivery_count_update AFTER UPDATE ON delivery "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    f"EXECUTE FUNCTION {_UPDATED}()",
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
        *SQLITE_COUNT_TRIGGERS,
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
    # bounces/store.py: every recognised bounce and complaint, once per report (soft-bounce counts)
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
        "INSERT INTO feedback (key, delivery_id, campaign_id, kind, detail, at) "
        "SELECT 'bounce:' || message_key, delivery_id, campaign_id, CASE kind "
        "WHEN 'hard' THEN 'bounced' WHEN 'soft' THEN 'soft_bounced' "
        "WHEN 'complaint' THEN 'complained' ELSE 'unsubscribed' END, "
        "substr(diagnostic, 1, 500), at FROM bounce WHERE true ON CONFLICT DO NOTHING",
        "INSERT INTO feedback_count (campaign_id, kind, n) "
        "SELECT campaign_id, kind, COUNT(*) FROM feedback WHERE campaign_id IS NOT NULL "
        "GROUP BY campaign_id, kind "
        'ON CONFLICT ("campaign_id", "kind") DO UPDATE SET n = excluded.n',
        'DROP TABLE IF EXISTS "bounce"',
    ],
    # models.InterruptCause: why a campaign is interrupted, typed. The one cause a rule reads
    # (nobody took it up) is recovered from the words recovery wrote for it until v6.
    7: [
        'ALTER TABLE "campaign" ADD COLUMN "interrupt_cause" TEXT',
        "UPDATE campaign SET interrupt_cause = 'not_picked_up' WHERE status = 'interrupted' "
        # substr, not LIKE: psycopg reads a % in a statement as a placeholder
        "AND substr(last_error, 1, 28) = 'no runner took it up within '",
    ],
}

# SQLite's spelling -> PostgreSQL's. An integer primary key is SQLite's rowid, numbered by the
# database: PostgreSQL's SERIAL; REAL is 8 bytes in SQLite, 4 in PostgreSQL.
_PG_TYPES = [
    (re.compile(r'INTEGER NOT NULL PRIMARY KEY(?: AUTOINCREMENT)?', re.I), "SERIAL PRIMARY KEY"),
    (re.compile(r'INTEGER PRIMARY KEY(?: AUTOINCREMENT)?', re.I), "SERIAL PRIMARY KEY"),
    (re.compile(r'\bDATETIME\b', re.I), "TIMESTAMP"),
    (re.compile(r'\bREAL\b', re.I), "DOUBLE PRECISION"),
    (re.compile(r'\bBLOB\b', re.I), "BYTEA"),
]


def for_engine(statement: str, engine: Engine) -> str:
    """A migration statement as `engine` takes it."""
    if engine is Engine.SQLITE:
        return statement
    for pattern, replacement in _PG_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement


def fresh_statements(engine: Engine) -> list[str]:
    """What follows create_tables on a new database of this engine."""
    if engine is Engine.SQLITE:
        return [*SQLITE_COUNT_TRIGGERS,
                *(s for step in SQLITE_FRESH_STEPS for s in MIGRATIONS[step])]
    return list(PG_COUNT_TRIGGERS)


def upgrade_statements(step: int, engine: Engine) -> list[str]:
    """The statements that bring a database of this engine from step - 1 to step."""
    return [for_engine(statement, engine) for statement in MIGRATIONS[step]]
