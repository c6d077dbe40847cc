"""The feedback service against a real home database: idempotent records with per-campaign
counts, one home for suppress-with-reason (pending deliveries skipped, audience version bumped),
signed tokens that cannot be replayed across purposes, bounce reports recorded through it."""

from __future__ import annotations

import pytest

from messagehub_tui import contacts, feedback, signing
from messagehub_tui.bounces import policy, verp
from messagehub_tui.bounces.parse import Finding, Kind
from messagehub_tui.control import launch
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Delivery, Suppression, audience_version
from tests.engine import make_home

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def launched(home, monkeypatch):
    """A launched (not started) email campaign of 5 recipients; (settings, campaign id)."""
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    settings, campaign_id = make_home(home, count=5)
    launch(settings, campaign_id, start=False)
    return settings, campaign_id


def _delivery(campaign_id: int, address: str) -> Delivery:
    return Delivery.get((Delivery.campaign == campaign_id) & (Delivery.address == address))


def test_a_signal_is_recorded_once_per_key_and_counted(launched):
    _, campaign_id = launched
    first = _delivery(campaign_id, "user0@example.com").id
    assert feedback.record(first, None, FeedbackKind.UNSUBSCRIBED, "one-click", "u:1")
    assert not feedback.record(first, None, FeedbackKind.UNSUBSCRIBED, "again", "u:1")
    assert feedback.record(first, campaign_id, FeedbackKind.BOUNCED, "550", "b:1")
    counts = feedback.counts(campaign_id)
    assert (counts.unsubscribed, counts.bounced, counts.complained, counts.total) == (1, 1, 0, 2)
    assert counts.to_json()["unsubscribed"] == 1 and counts.rate(FeedbackKind.BOUNCED, 4) == 0.25
    signals = feedback.of_deliveries([first])[first]
    assert [(s.kind, s.detail) for s in signals] == [("unsubscribed", "one-click"),
                                                      ("bounced", "550")]


def test_suppressing_skips_pending_deliveries_and_bumps_the_audience(launched):
    _, campaign_id = launched
    before = audience_version()
    assert feedback.suppress("email", "user1@example.com", "unsubscribed", campaign_id)
    assert not feedback.suppress("email", "user1@example.com", "unsubscribed", campaign_id)
    assert audience_version() != before
    row = Suppression.get(Suppression.address == "user1@example.com")
    assert (row.reason, row.campaign_id) == ("unsubscribed", campaign_id)
    assert _delivery(campaign_id, "user1@example.com").status == "skipped"
    statuses = [d.status for d in Delivery.select().where(Delivery.campaign == campaign_id)]
    assert statuses.count("pending") == 4 and statuses.count("skipped") == 1


def test_a_suppression_on_another_channel_skips_nothing(launched):
    _, campaign_id = launched
    assert feedback.suppress("sms", "user2@example.com", "odd", None)
    assert _delivery(campaign_id, "user2@example.com").status == "pending"


def test_contacts_suppress_goes_through_the_same_home(launched):
    _, campaign_id = launched
    assert contacts.suppress(["USER3@example.com"], "email", "asked") == 1
    assert _delivery(campaign_id, "user3@example.com").status == "skipped"
    assert feedback.unsuppress_many("email", ["user3@example.com"], only_reason="other") == 0
    assert contacts.unsuppress(["user3@example.com"], "email") == 1


def test_a_verp_token_is_no_unsubscribe_token_and_the_other_way(home, monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    key = signing.secret_key(home)
    token = signing.unsubscribe_token(key, 42)
    assert signing.read_unsubscribe_token(key, token) == 42
    assert verp.read_token(key, token) is None
    verp_token = verp.make_token(key, 42)
    assert signing.read_unsubscribe_token(key, verp_token) is None
    number, mac = token.split(".")
    assert signing.read_unsubscribe_token(key, f"43.{mac}") is None
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert signing.read_unsubscribe_token(key, f"{number}.{flipped}") is None
    assert signing.read_unsubscribe_token(b"another key" * 4, token) is None


def test_a_bounce_report_is_recorded_as_feedback_once(launched):
    settings, campaign_id = launched
    delivery = _delivery(campaign_id, "user4@example.com")
    Delivery.update(status="sent").where(Delivery.id == delivery.id).execute()
    finding = Finding(Kind.HARD, "user4@example.com", "5.1.1", "550 5.1.1 no such user")
    assert policy.apply(settings, finding, "<r1@mx>").suppressed
    policy.apply(settings, finding, "<r1@mx>")
    soft = Finding(Kind.SOFT, "user4@example.com", "4.2.2", "452 full")
    policy.apply(settings, soft, "<r2@mx>")
    counts = feedback.counts(campaign_id)
    assert (counts.bounced, counts.soft_bounced) == (1, 1)
    assert Suppression.get().campaign_id == campaign_id


def test_two_reports_of_one_bounce_at_the_same_moment_count_once(launched):
    """The DSN and the provider's webhook about one delivery, recorded by two processes at once
    (other keys, same delivery and kind): both kept, counted once. The first recorder's
    transaction stays open while the second one records; on PostgreSQL (read committed) the
    second one did not see the first one's row and counted it again."""
    import threading

    from messagehub_tui.models import Feedback, db
    _, campaign_id = launched
    delivery = _delivery(campaign_id, "user2@example.com").id
    first_recorded, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with db.connection_context(), db.atomic():
                feedback.record(delivery, None, FeedbackKind.BOUNCED, "550 (the DSN)", "dsn:1")
                first_recorded.set()
                # held open until the second recorder is through, or it waits on this one
                second_done.wait(2.0)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)
            first_recorded.set()

    def second() -> None:
        try:
            first_recorded.wait(30)
            with db.connection_context():
                feedback.record(delivery, None, FeedbackKind.BOUNCED, "550 (the webhook)",
                                "hook:1")
        except BaseException as exc:
            errors.append(exc)
        finally:
            second_done.set()

    recorders = [threading.Thread(target=first), threading.Thread(target=second)]
    for recorder in recorders:
        recorder.start()
    for recorder in recorders:
        recorder.join(60)
    assert not errors, errors
    assert Feedback.select().where(Feedback.delivery == delivery).count() == 2
    assert feedback.counts(campaign_id).bounced == 1
