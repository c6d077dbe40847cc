"""The statements beyond peewee's create_tables, per engine: the delivery counters' triggers and
the versioned migrations. Migrations are written in SQLite's dialect; `for_engine` rewrites the
few type names PostgreSQL spells differently, so one list serves both."""

from __future__ import annotations

import re

from messagehub_tui.engines import Engine

SCHEMA_VERSION = 4
# PostgreSQL support arrived with schema 4: a new PostgreSQL database starts there, and only the
# migrations after it ever run on one. Those before it are SQLite's history (3 rebuilds a table
# for AUTOINCREMENT, which PostgreSQL's sequences give anyway).
POSTGRES_FIRST = 4
# A new SQLite database is made by create_tables, then these steps (each safe on fresh tables).
SQLITE_FRESH_FROM = 3

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

# PostgreSQL: statement-level triggers over transition tables, one upsert per statement however
# many rows it changed. Each first locks the counter rows of the campaigns it touches, in one
# order: two transactions moving deliveries between states (a claim: pending -> sending; a retry:
# sending -> pending) would otherwise lock the same two counters in opposite orders and deadlock.
_PG_LOCK = ("PERFORM 1 FROM delivery_count WHERE campaign_id IN "
            "(SELECT campaign_id FROM {rows}) ORDER BY campaign_id, status FOR UPDATE;")
PG_COUNT_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION delivery_count_inserted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          {_PG_LOCK.format(rows="new_rows")}
          INSERT INTO delivery_count (campaign_id, status, n)
            SELECT campaign_id, status, COUNT(*) FROM new_rows GROUP BY campaign_id, status
            ORDER BY campaign_id, status
          ON CONFLICT (campaign_id, status) DO UPDATE SET n = delivery_count.n + excluded.n;
          RETURN NULL;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION delivery_count_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
          {_PG_LOCK.format(rows="old_rows")}
          UPDATE delivery_count c SET n = c.n - d.n
            FROM (SELECT campaign_id, status, COUNT(*) AS n FROM old_rows
                  GROUP BY campaign_id, status) d
            WHERE c.campaign_id = d.campaign_id AND c.status = d.status;
          RETURN NULL;
        END $$""",
    f"""CREATE OR REPLACE FUNCTION delivery_count_updated() RETURNS trigger
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
    "EXECUTE FUNCTION delivery_count_inserted()",
    "CREATE OR REPLACE TRIGGER delivery_count_delete AFTER DELETE ON delivery "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION delivery_count_deleted()",
    "CREATE OR REPLACE TRIGGER delivery_count_update AFTER UPDATE ON delivery "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION delivery_count_updated()",
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
        steps = range(SQLITE_FRESH_FROM, SCHEMA_VERSION + 1)
        return [*SQLITE_COUNT_TRIGGERS, *(s for step in steps for s in MIGRATIONS[step])]
    steps = range(POSTGRES_FIRST, SCHEMA_VERSION + 1)
    return [*PG_COUNT_TRIGGERS,
            *(for_engine(s, engine) for step in steps for s in MIGRATIONS[step])]


def upgrade_statements(step: int, engine: Engine) -> list[str]:
    """The statements that bring a database of this engine from step - 1 to step."""
    return [for_engine(statement, engine) for statement in MIGRATIONS[step]]
