"""Twilio delivery status and inbound replies recorded through the feedback service, and the
daemon's status poll against the fake Twilio API (real HTTP, the official client)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from messagehub_tui import contacts, control, feedback
from messagehub_tui.channels.twilio_feedback import STOP_REASON, Keyword, status_report
from messagehub_tui.models import Delivery, Event, RateSlot, Suppression, utcnow
from messagehub_tui.sms import inbound, poller, status
from tests.engine import make_home, poll, wait_status
from tests.peers import Prism
from tests.test_engine_twilio import twilio_toml

pytestmark = pytest.mark.usefixtures("twilio_token")

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True



def send(home, fake, count=3, **extra):
    """An SMS campaign sent through the fake API; (settings, campaign id, {number: delivery})."""
    settings, cid = make_home(home, twilio_toml(fake.url, **extra), count=count, channel="sms",
                              body="Hi {{ first_name }}")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    rows = {d.address: d for d in Delivery.select().where(Delivery.campaign == cid)}
    assert all(d.provider_id.startswith("SM") for d in rows.values())
    return settings, cid, rows


def events(cid):
    return [e.message for e in Event.select().where(Event.campaign == cid).order_by(Event.id)]


def test_a_final_status_is_recorded_once_and_never_moves_back(home, fake):
    settings, cid, rows = send(home, fake, count=2)
    sid = rows["+14155550000"].provider_id
    assert status.apply(settings, status_report(sid, "sent")).recorded is False
    assert status.apply(settings, status_report(sid, "delivered")).recorded
    assert not status.apply(settings, status_report(sid, "sent")).recorded
    assert not status.apply(settings, status_report(sid, "undelivered", "30003")).recorded
    assert not status.apply(settings, status_report(sid, "delivered")).recorded  # a retry
    counts = feedback.counts(cid)
    assert (counts.delivered, counts.undelivered) == (1, 0)
    assert Delivery.get_by_id(rows["+14155550000"].id).error is None
    assert status.apply(settings, status_report("SM" + "f" * 32, "delivered")) is None


def test_undelivered_keeps_the_error_code_and_its_meaning(home, fake):
    settings, cid, rows = send(home, fake, count=2)
    sid = rows["+14155550001"].provider_id
    assert status.apply(settings, status_report(sid, "undelivered", "30006")).recorded
    assert status.apply(settings, status_report(rows["+14155550000"].provider_id, "failed",
                                                "30007")).recorded
    error = Delivery.get_by_id(rows["+14155550001"].id).error
    assert error == "undelivered: Twilio error 30006: landline or unreachable carrier"
    assert feedback.counts(cid).undelivered == 2
    assert any("+14155550001 undelivered: Twilio error 30006" in e for e in events(cid))
    assert not Suppression.select().exists()


def test_a_21610_status_suppresses_the_number_as_a_stop(home, fake):
    settings, cid, rows = send(home, fake, count=1)
    status.apply(settings, status_report(rows["+14155550000"].provider_id, "failed", 21610))
    row = Suppression.get(Suppression.address == "+14155550000")
    assert (row.channel, row.reason, row.campaign_id) == ("sms", STOP_REASON, cid)


def inbound_message(number, body, sid="SM" + "b" * 32, **extra):
    return inbound.parse({"MessageSid": sid, "From": number, "Body": body, **extra})


def test_stop_then_start(home, fake):
    settings, cid, _ = send(home, fake, count=2)
    heard = inbound.apply(settings, inbound_message("+14155550001", " Stop\n"))
    assert heard == inbound.Heard(Keyword.OPT_OUT, cid, True)
    row = Suppression.get(Suppression.address == "+14155550001")
    assert (row.channel, row.reason, row.campaign_id) == ("sms", STOP_REASON, cid)
    assert feedback.counts(cid).unsubscribed == 1
    assert not inbound.apply(settings, inbound_message("+14155550001", "STOP")).changed
    assert feedback.counts(cid).unsubscribed == 1
    heard = inbound.apply(settings, inbound_message("+14155550001", "start", "SM" + "c" * 32))
    assert heard.keyword == Keyword.OPT_IN and heard.changed
    assert not Suppression.select().exists()
    assert [e for e in events(cid) if "replied" in e] == [
        "+14155550001 replied Stop: number suppressed", "+14155550001 replied start: STOP lifted"]


def test_start_lifts_only_a_suppression_a_stop_made(home, fake):
    settings, _, _ = send(home, fake, count=1)
    contacts.suppress(["+14155550000"], "sms", "asked by phone")
    assert not inbound.apply(settings, inbound_message("+14155550000", "UNSTOP")).changed
    assert Suppression.get(Suppression.address == "+14155550000").reason == "asked by phone"


def test_a_stop_from_a_number_never_texted_still_suppresses_it(home, fake):
    settings, _, _ = send(home, fake, count=1)
    heard = inbound.apply(settings, inbound_message("+14155559999", "QUIT"))
    assert heard == inbound.Heard(Keyword.OPT_OUT, None, True)
    assert Suppression.get(Suppression.address == "+14155559999").reason == STOP_REASON


def test_help_is_left_to_twilio(home, fake):
    settings, cid, _ = send(home, fake, count=1)
    heard = inbound.apply(settings, inbound_message("+14155550000", "HELP"))
    assert heard == inbound.Heard(Keyword.HELP, cid, False)
    assert feedback.counts(cid).total == 0 and not Suppression.select().exists()


def test_a_reply_is_an_event_of_the_campaign_that_last_texted_the_number(home, fake):
    settings, first, _ = send(home, fake, count=2)
    body = "Can I come\nat 5?\x1b[31m"
    heard = inbound.apply(settings, inbound_message("+14155550001", body))
    assert heard == inbound.Heard(Keyword.REPLY, first, True)
    assert "reply from +14155550001: Can I come at 5? [31m" in events(first)
    assert not inbound.apply(settings, inbound_message("+14155550001", body)).changed  # retried
    assert feedback.counts(first).replied == 1
    signals = feedback.of_deliveries([d.id for d in Delivery.select()])
    assert [s.detail for group in signals.values() for s in group] == [body]
    assert not inbound.apply(settings, inbound_message("+14155559999", "hi?")).changed


@pytest.mark.parametrize("fields", [
    {"From": "+14155550000", "Body": "STOP"},
    {"MessageSid": "SM" + "b" * 32, "Body": "STOP"},
    {"MessageSid": "SM" + "b" * 32, "From": "whatsapp:+14155550000", "Body": "STOP"},
    {"MessageSid": "SM" + "b" * 32, "From": "12345", "Body": "STOP"},
])
def test_an_inbound_message_without_sid_or_number_is_not_read(fields):
    assert inbound.parse(fields) is None


def test_the_poll_records_final_statuses_and_asks_again_only_for_the_rest(home, fake):
    settings, cid, rows = send(home, fake, count=3)
    sids = [rows[f"+1415555000{i}"].provider_id for i in range(3)]
    fake.statuses[sids[0]] = ("delivered", None)
    fake.statuses[sids[1]] = ("undelivered", 30003)
    assert sorted(d.sid for d in poller.due(None, utcnow())) == sorted(sids)
    assert poller.poll_once(settings, threading.Event()) == 2
    counts = feedback.counts(cid)
    assert (counts.delivered, counts.undelivered) == (1, 1)
    assert "30003" in Delivery.get_by_id(rows["+14155550001"].id).error
    assert [d.sid for d in poller.due(None, utcnow())] == [sids[2]]
    fake.fetches.clear()
    fake.statuses[sids[2]] = ("sent", None)
    assert poller.poll_once(settings, threading.Event()) == 0
    assert [sid for sid, _ in fake.fetches] == [sids[2]]


def test_the_poll_leaves_texts_older_than_72_hours(home, fake):
    settings, _, rows = send(home, fake, count=2)
    old = utcnow() - timedelta(hours=73)
    Delivery.update(updated_at=old).where(Delivery.address == "+14155550000").execute()
    assert [d.sid for d in poller.due(None, utcnow())] == [rows["+14155550001"].provider_id]


def test_a_text_is_asked_about_when_its_age_passes_a_step(home, fake):
    """Not at every round: a carrier that never reports delivery would cost a fetch a minute."""
    _, _, rows = send(home, fake, count=6)
    now = utcnow()
    ages = {"+14155550000": timedelta(seconds=90),     # passed 1 min during the last minute
            "+14155550001": timedelta(seconds=200),    # between 1 and 5 min: nothing passed
            "+14155550002": timedelta(seconds=310),    # passed 5 min
            "+14155550003": timedelta(hours=2, seconds=30),  # passed 2 h
            "+14155550004": timedelta(hours=3),        # between 2 h and 4 h
            "+14155550005": timedelta(hours=71, seconds=30)}  # the last step before 72 h
    for number, age in ages.items():
        Delivery.update(updated_at=now - age).where(Delivery.address == number).execute()
    due = {d.sid for d in poller.due(now - timedelta(seconds=60), now)}
    assert due == {rows[n].provider_id for n in ("+14155550000", "+14155550002",
                                                 "+14155550003", "+14155550005")}
    assert len(poller.due(None, now)) == 6  # the daemon's first round catches up


def test_the_poll_takes_slots_of_the_senders_rate(home, fake):
    settings, _, rows = send(home, fake, count=4, rate="4")
    key = "twilio:sms:+15005550006"
    before = RateSlot.get_by_id(key).next_at
    poller.poll_once(settings, threading.Event())
    times = sorted(at for _, at in fake.fetches)
    assert len(times) == 4
    # each fetch took a slot of the sender's 4/s after the sends' own, so sends and polls
    # together stay within the rate
    assert RateSlot.get_by_id(key).next_at >= before + 4 / 4
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.2


def test_an_unreachable_twilio_ends_the_poll_quietly(home, fake, caplog):
    settings, _, _ = send(home, fake, count=1)
    fake.stop()
    assert poller.poll_once(settings, threading.Event()) == 0
    assert "status poll: cannot reach Twilio" in caplog.text


def test_a_stopping_daemon_ends_the_poll_between_fetches(home, fake):
    settings, _, _ = send(home, fake, count=3, rate="1")
    stopping = threading.Event()
    stopping.set()
    assert poller.poll_once(settings, stopping) == 0
    assert len(fake.fetches) <= 1


def test_the_daemon_polls_without_a_public_url(home, fake):
    from tests.test_scheduling import start_daemon, stop_daemon
    _, cid, rows = send(home, fake, count=2)
    for state, row in zip(("delivered", "undelivered"), rows.values(), strict=True):
        fake.statuses[row.provider_id] = (state, 30005 if state == "undelivered" else None)
    daemon = start_daemon(home)
    try:
        poll(lambda: feedback.counts(cid).total == 2, 60, what="both final statuses")
    finally:
        stop_daemon(daemon)
    counts = feedback.counts(cid)
    assert (counts.delivered, counts.undelivered) == (1, 1)


def test_with_a_public_url_the_poll_only_catches_lost_callbacks(home, fake):
    toml = twilio_toml(fake.url) + '[web]\npublic_url = "https://news.example.com/mh"\n'
    settings, cid = make_home(home, toml, count=2, channel="sms", body="x")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    rows = {d.address: d for d in Delivery.select()}
    now = utcnow()
    for number, age in (("+14155550000", timedelta(minutes=5, seconds=30)),
                        ("+14155550001", timedelta(hours=2, seconds=30))):
        Delivery.update(updated_at=now - age).where(Delivery.address == number).execute()
    due = poller.due(now - timedelta(seconds=60), now, poller.ages(settings))
    assert [d.sid for d in due] == [rows["+14155550001"].provider_id]


def test_no_poll_without_twilio(home):
    settings, _ = make_home(home, "", count=0, channel="sms", body="x")  # the outbox
    assert poller.start_status_poll(settings, threading.Event(), lambda: True) is None


def test_start_lifts_the_suppression_of_a_21610_at_send_time(home, fake):
    settings, cid = make_home(home, twilio_toml(fake.url), count=0, channel="sms", body="x")
    (home / "stopped.csv").write_text("phone\n+14155550201\n")  # the fake answers 21610
    contacts.import_csv(home / "stopped.csv", home, "people")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert Suppression.get(Suppression.address == "+14155550201").reason == STOP_REASON
    assert inbound.apply(settings, inbound_message("+14155550201", "START")).changed
    assert not Suppression.select().exists()


def test_the_status_fetch_matches_twilios_published_spec(home):
    """Prism validates the GET against the spec and answers with the spec's example message."""
    from messagehub_tui.channels.twilio_sms import StatusReader
    from messagehub_tui.config_load import load_settings
    prism = Prism()
    try:
        make_home(home, twilio_toml(prism.url), count=0, channel="sms", body="x")
        reader = StatusReader(load_settings(home).sms)
        report = reader.fetch("SM" + "a" * 32)
        assert report is not None and report.sid.startswith("SM") and report.status
        assert report.code is None or report.meaning
    finally:
        prism.stop()


def test_only_the_leading_daemon_polls(home, fake):
    """With several hosts on one database, a daemon that does not fire schedules leaves Twilio
    to the one that does."""
    settings, cid, rows = send(home, fake, count=2)
    for row in rows.values():
        fake.statuses[row.provider_id] = ("delivered", None)
    stopping = threading.Event()

    def not_leading() -> bool:
        stopping.set()  # one round is enough to see what it does
        return False
    thread = poller.start_status_poll(settings, stopping, not_leading)
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive() and fake.fetches == [] and feedback.counts(cid).total == 0

    stopping.clear()
    thread = poller.start_status_poll(settings, stopping, lambda: True)
    assert thread is not None
    try:
        poll(lambda: feedback.counts(cid).total == 2, 60, what="the leader's poll")
    finally:
        stopping.set()
        thread.join(30)
