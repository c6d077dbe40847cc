-- The schema messagehub-tui created at schema version 2 (tables, indexes, count triggers).
CREATE TABLE "contact_list" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "created_at" DATETIME NOT NULL);
CREATE TABLE "campaign" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "channel" TEXT NOT NULL, "status" TEXT NOT NULL, "contact_list_id" INTEGER, "subject" TEXT NOT NULL, "body" TEXT NOT NULL, "html" TEXT, "sender" TEXT, "rate" REAL, "scheduled_at" DATETIME, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, "started_at" DATETIME, "finished_at" DATETIME, "last_error" TEXT, "control" TEXT NOT NULL, "auto_resume" INTEGER NOT NULL, FOREIGN KEY ("contact_list_id") REFERENCES "contact_list" ("id") ON DELETE SET NULL);
CREATE TABLE "contact" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT, "phone" TEXT, "first_name" TEXT NOT NULL, "last_name" TEXT NOT NULL, "attributes" TEXT NOT NULL, "created_at" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL);
CREATE TABLE "delivery" ("id" INTEGER NOT NULL PRIMARY KEY, "campaign_id" INTEGER NOT NULL, "contact_id" INTEGER, "address" TEXT NOT NULL, "status" TEXT NOT NULL, "attempts" INTEGER NOT NULL, "next_attempt_at" REAL NOT NULL, "provider_id" TEXT, "error" TEXT, "runner_id" INTEGER, "updated_at" DATETIME NOT NULL, FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE SET NULL);
CREATE TABLE "delivery_count" ("campaign_id" INTEGER NOT NULL, "status" TEXT NOT NULL, "n" INTEGER NOT NULL, PRIMARY KEY ("campaign_id", "status"), FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE);
CREATE TABLE "event" ("id" INTEGER NOT NULL PRIMARY KEY, "campaign_id" INTEGER, "at" DATETIME NOT NULL, "level" TEXT NOT NULL, "message" TEXT NOT NULL, FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE);
CREATE TABLE "list_member" ("contact_list_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, PRIMARY KEY ("contact_list_id", "contact_id"), FOREIGN KEY ("contact_list_id") REFERENCES "contact_list" ("id") ON DELETE CASCADE, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE);
CREATE TABLE "meta" ("key" TEXT NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE "rate_slot" ("sender_key" TEXT NOT NULL PRIMARY KEY, "next_at" REAL NOT NULL);
CREATE TABLE "runner" ("id" INTEGER NOT NULL PRIMARY KEY, "campaign_id" INTEGER NOT NULL, "pid" INTEGER NOT NULL, "host" TEXT NOT NULL, "started_at" DATETIME NOT NULL, "heartbeat_at" REAL NOT NULL, FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE CASCADE);
CREATE TABLE "suppression" ("id" INTEGER NOT NULL PRIMARY KEY, "channel" TEXT NOT NULL, "address" TEXT NOT NULL, "reason" TEXT NOT NULL, "created_at" DATETIME NOT NULL);
CREATE UNIQUE INDEX "contact_list_name" ON "contact_list" ("name");
CREATE INDEX "campaign_status" ON "campaign" ("status");
CREATE INDEX "campaign_contact_list_id" ON "campaign" ("contact_list_id");
CREATE UNIQUE INDEX "contact_email" ON "contact" ("email");
CREATE UNIQUE INDEX "contact_phone" ON "contact" ("phone");
CREATE INDEX "delivery_campaign_id" ON "delivery" ("campaign_id");
CREATE INDEX "delivery_contact_id" ON "delivery" ("contact_id");
CREATE UNIQUE INDEX "delivery_campaign_id_address" ON "delivery" ("campaign_id", "address");
CREATE INDEX "delivery_campaign_id_status_next_attempt_at" ON "delivery" ("campaign_id", "status", "next_attempt_at");
CREATE INDEX "delivery_count_campaign_id" ON "delivery_count" ("campaign_id");
CREATE INDEX "event_campaign_id" ON "event" ("campaign_id");
CREATE INDEX "event_at" ON "event" ("at");
CREATE INDEX "list_member_contact_list_id" ON "list_member" ("contact_list_id");
CREATE INDEX "list_member_contact_id" ON "list_member" ("contact_id");
CREATE INDEX "runner_campaign_id" ON "runner" ("campaign_id");
CREATE UNIQUE INDEX "suppression_channel_address" ON "suppression" ("channel", "address");
CREATE TRIGGER delivery_count_insert AFTER INSERT ON delivery BEGIN
         INSERT INTO delivery_count (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
         ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
       END;
CREATE TRIGGER delivery_count_update AFTER UPDATE OF status ON delivery
       WHEN OLD.status != NEW.status BEGIN
         UPDATE delivery_count SET n = n - 1
           WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
         INSERT INTO delivery_count (campaign_id, status, n) VALUES (NEW.campaign_id, NEW.status, 1)
         ON CONFLICT (campaign_id, status) DO UPDATE SET n = n + 1;
       END;
CREATE TRIGGER delivery_count_delete AFTER DELETE ON delivery BEGIN
         UPDATE delivery_count SET n = n - 1
           WHERE campaign_id = OLD.campaign_id AND status = OLD.status;
       END;
INSERT INTO meta (key, value) VALUES ('schema_version', '2');
