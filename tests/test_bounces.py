"""VERP tokens, the [bounces] settings, matching a report to its delivery and the suppression
policy (hard, soft within a window, complaint), in-process against a real home database."""

from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from messagehub_tui import contacts, feedback
from messagehub_tui.bounces import policy, verp
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.engines import engine_of
from messagehub_tui.errors import ConfigError
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.message_id import home_token
from messagehub_tui.models import Delivery, Event, Feedback, Meta, Suppression, db, utcnow
from messagehub_tui.schema import SCHEMA_VERSION, upgrade_statements
from tests.engine import make_home

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

TEMPLATE = "bounces+{token}@news.example.com"


@pytest.fixture
def sent(home, monkeypatch):
    """A home with [bounces] return_path and one sent delivery per address; (settings, ids)."""
    monkeypatch.delenv(verp.KEY_ENV, raising=False)
    settings, campaign_id = make_home(home, f'[bounces]\nreturn_path = "{TEMPLATE}"\n'
                                            "soft_limit = 3\nsoft_window = \"30d\"\n", count=1)
    ids = {address: Delivery.create(campaign=campaign_id, address=address, status="sent").id
           for address in ("ann@example.org", "bob@example.org")}
    return settings, campaign_id, ids


def test_a_token_names_its_delivery_and_any_change_is_rejected(home, monkeypatch):
    monkeypatch.delenv(verp.KEY_ENV, raising=False)
    key = verp.secret_key(home)
    assert stat.S_IMODE(os.stat(home / "secret.key").st_mode) == 0o600
    address = verp.return_path(TEMPLATE, key, 42)
    token = verp.token_in(TEMPLATE, address)
    assert verp.read_token(key, token) == 42
    assert verp.read_token(key, token.upper()) == 42  # relays may change the case
    number, signature = token.split(".")
    flipped = signature[:-1] + ("a" if signature[-1] != "a" else "b")
    for forged in (f"43.{signature}", f"{number}.{flipped}", f"{number}.{signature[:-1]}",
                   "42", "", f"{number}.{signature}.x"):
        assert verp.read_token(key, forged) is None, forged
    assert verp.read_token(b"another key" * 4, token) is None
    assert verp.token_in(TEMPLATE, "news@news.example.com") is None


def test_the_key_from_the_environment_wins_and_is_not_written(home, monkeypatch):
    monkeypatch.setenv(verp.KEY_ENV, "k" * 40)
    assert verp.secret_key(home) == b"k" * 40
    assert not (home / "secret.key").exists()


@pytest.mark.parametrize("toml, problem", [
    ('return_path = "bounces@example.com"', "[bounces] return_path must be an address with"),
    ('return_path = "bounces+{token}"', "[bounces] return_path must be an address with"),
    ('imap_host = "imap.example.com"', "[bounces] imap_user is required"),
    ('security = "ssl"', "[bounces] security must be one of tls, starttls, none"),
    ('soft_limit = 0', "[bounces] soft_limit must be a whole number"),
    ('imap_processed_folder = "INBOX"', "imap_processed_folder must differ from imap_folder"),
    ('password = "x"', "unknown key [bounces] password"),
])
def test_bad_bounce_settings_are_named(home, toml, problem):
    (home / "messagehub.toml").write_text(f"[bounces]\n{toml}\n")
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        load_settings(home)


def test_the_imap_password_comes_from_the_environment_only(home, monkeypatch):
    (home / "messagehub.toml").write_text('[bounces]\nimap_host = "h"\nimap_user = "u"\n')
    monkeypatch.setenv("MESSAGEHUB_IMAP_PASSWORD", "s3cret")
    bounces = load_settings(home).bounces
    assert bounces.password == "s3cret" and "s3cret" not in repr(bounces)
    assert (bounces.effective_port, bounces.imap_folder, bounces.poll_every) == (993, "INBOX", 60)


def _hard(**fields) -> Finding:
    return Finding(Kind.HARD, **{"status": "5.1.1", "diagnostic": "smtp; 550 5.1.1 no such user",
                                 **fields})


def test_a_hard_bounce_found_by_its_verp_token_suppresses_and_tells_the_campaign(sent):
    settings, campaign_id, ids = sent
    address = verp.envelope_sender(settings, ids["ann@example.org"])
    applied = policy.apply(settings, _hard(recipient="someone-else@example.org",
                                           envelope_to=(address.lower(),)), "<r1@mx>")
    assert (applied.address, applied.suppressed) == ("ann@example.org", True)
    assert [(s.address, s.reason) for s in Suppression.select()] == [
        ("ann@example.org", "bounced: smtp; 550 5.1.1 no such user")]
    assert Delivery.get_by_id(ids["ann@example.org"]).error == "smtp; 550 5.1.1 no such user"
    events = [e.message for e in Event.select().where(Event.campaign == campaign_id)]
    assert events == [("bounced for ann@example.org: smtp; 550 5.1.1 no such user; "
                       "address suppressed")]
    assert policy.apply(settings, _hard(envelope_to=(address,)), "<r1@mx>").repeated
    assert Event.select().count() == 1 and Feedback.select().count() == 1
    assert feedback.counts(campaign_id).bounced == 1


def test_a_forged_token_matches_nothing_and_a_stranger_is_not_suppressed(sent):
    settings, _, ids = sent
    address = verp.envelope_sender(settings, ids["ann@example.org"])
    forged = address.replace(f"+{ids['ann@example.org']}.", f"+{ids['bob@example.org']}.")
    assert policy.apply(settings, _hard(envelope_to=(forged,),
                                        recipient="nobody@example.org"), "<r2@mx>") is None
    assert Suppression.select().count() == 0


def test_without_a_token_the_quoted_message_id_then_the_recipient_find_the_delivery(sent):
    settings, campaign_id, ids = sent
    ours = f"{campaign_id}.{ids['bob@example.org']}.1.{home_token()}@example.com"
    assert policy.apply(settings, _hard(original_message_id=ours), "<r3@mx>").address == \
        "bob@example.org"
    other_home = f"{campaign_id}.{ids['bob@example.org']}.1.0123456789abcdef@example.com"
    by_recipient = policy.apply(settings, _hard(original_message_id=other_home,
                                                recipient="Ann@Example.org"), "<r4@mx>")
    assert by_recipient.address == "ann@example.org"


def test_soft_bounces_suppress_at_the_limit_within_the_window(sent):
    settings, campaign_id, ids = sent
    feedback.record(ids["ann@example.org"], campaign_id, FeedbackKind.SOFT_BOUNCED, "old",
                    "bounce:<old@mx>")
    Feedback.update(at=utcnow() - timedelta(days=31)).execute()
    # another address's soft bounce does not count for ann
    feedback.record(ids["bob@example.org"], campaign_id, FeedbackKind.SOFT_BOUNCED, "b",
                    "bounce:<b@mx>")
    soft = [policy.apply(settings, Finding(Kind.SOFT, "ann@example.org", "4.2.2",
                                           "452 4.2.2 mailbox full"), f"<s{i}@mx>")
            for i in range(3)]
    assert [a.suppressed for a in soft] == [False, False, True]
    reason = Suppression.get().reason
    assert reason.startswith("bounced: 3 soft bounces within 30 days; last: 452 4.2.2")


def test_a_complaint_suppresses_with_reason_complained(sent):
    settings, _, _ = sent
    applied = policy.apply(settings, Finding(Kind.COMPLAINT, "bob@example.org", "",
                                             "feedback type abuse"), "<c1@isp>")
    assert applied.suppressed
    assert [(s.address, s.reason) for s in Suppression.select()] == [("bob@example.org",
                                                                      "complained")]
    assert contacts.suppressions("email")[0].address == "bob@example.org"


def test_bounces_of_a_version_5_home_become_feedback(sent):
    """Schema 6 moves v4's bounce table into feedback: counts, soft-bounce history and all."""
    settings, campaign_id, ids = sent
    for statement in upgrade_statements(4, engine_of(db.obj)):
        db.execute_sql(statement)
    db.execute_sql('DROP INDEX "feedback_kind_at"')
    rows = [("<h@mx>", "hard", "ann@example.org", "550 5.1.1 gone"),
            ("<s@mx>", "soft", "bob@example.org", "452 4.2.2 full"),
            ("<c@mx>", "complaint", "bob@example.org", "feedback type abuse")]
    for key, kind, address, diagnostic in rows:
        db.execute_sql("INSERT INTO bounce (message_key, kind, address, delivery_id, campaign_id,"
                       " diagnostic, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (key, kind, address, ids[address], campaign_id, diagnostic, utcnow()))
    db.execute_sql('ALTER TABLE "campaign" DROP COLUMN "interrupt_cause"')  # v7's, not v5's
    Meta.update(value="5").where(Meta.key == "schema_version").execute()
    db.close()
    open_db(settings.db_location)
    assert Meta.get(Meta.key == "schema_version").value == str(SCHEMA_VERSION)
    assert not db.table_exists("bounce")
    counted = feedback.counts(campaign_id)
    assert (counted.bounced, counted.soft_bounced, counted.complained) == (1, 1, 1)
    assert sorted((f.key, f.kind) for f in Feedback.select()) == [
        ("bounce:<c@mx>", "complained"), ("bounce:<h@mx>", "bounced"),
        ("bounce:<s@mx>", "soft_bounced")]
    # the same report polled again is recognised as recorded
    assert policy.apply(settings, Finding(Kind.SOFT, "bob@example.org", "4.2.2", "full"),
                        "<s@mx>").repeated


def _key_of(home: str, start, results) -> None:
    from messagehub_tui import signing
    start.wait()
    try:
        results.put(signing.secret_key(Path(home)))
    except ConfigError as exc:
        results.put(str(exc).encode())


def test_processes_starting_together_share_one_complete_key(tmp_path, monkeypatch):
    """The runners of a campaign start together: one makes the key file, the others read it
    whole (never an empty file that is "too short to be a key")."""
    monkeypatch.delenv(verp.KEY_ENV, raising=False)
    context = multiprocessing.get_context("fork")
    for attempt in range(10):
        home = tmp_path / str(attempt)
        home.mkdir()
        start, results = context.Barrier(6), context.Queue()
        workers = [context.Process(target=_key_of, args=(str(home), start, results))
                   for _ in range(6)]
        for worker in workers:
            worker.start()
        keys = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert len(set(keys)) == 1 and len(keys[0]) == 64, keys
        assert (home / "secret.key").read_bytes().strip() == keys[0]
        assert [p.name for p in home.iterdir()] == ["secret.key"]  # no draft left behind
