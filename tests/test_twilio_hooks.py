"""Twilio's callbacks over real HTTP to the real endpoint on a free port, signed by the official
RequestValidator as Twilio signs them (against the public URL the proxy is reached by), and the
StatusCallback every message is created with, checked by Prism against Twilio's published spec."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from twilio.request_validator import RequestValidator

from messagehub_tui import control, feedback
from messagehub_tui.channels.twilio_feedback import STOP_REASON
from messagehub_tui.models import Delivery, Event, Suppression
from messagehub_tui.sms import status
from messagehub_tui.web.serving import start_endpoint
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.peers import TWILIO_TOKEN as TOKEN
from tests.peers import Prism, free_port
from tests.test_engine_twilio import twilio_toml

pytestmark = pytest.mark.usefixtures("twilio_token")

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

PUBLIC = "https://news.example.com/mh"


def web_toml(port: int, public_url: str | None = PUBLIC) -> str:
    lines = ["[web]", f'listen = "127.0.0.1:{port}"']
    if public_url:
        lines.append(f'public_url = "{public_url}"')
    return "\n".join(lines) + "\n"




class Served:
    """A home whose SMS campaign went out through the fake API, with its endpoint serving."""

    def __init__(self, home, fake, public_url=PUBLIC):
        self.port = free_port()
        toml = twilio_toml(fake.url) + web_toml(self.port, public_url)
        self.settings, self.cid = make_home(home, toml, count=3, channel="sms", body="Hi")
        control.launch(self.settings, self.cid)
        wait_status(self.cid, "completed")
        self.sids = {d.address: d.provider_id
                     for d in Delivery.select().where(Delivery.campaign == self.cid)}
        self.endpoint = start_endpoint(self.settings)
        poll(self.endpoint.serving.is_set, 30, what="the endpoint to serve")

    def post(self, path, params, signed_url=None, token=TOKEN, headers=None):
        """POST a form as Twilio would; the signature covers `signed_url` (the public URL by
        default). (status, content type, body)."""
        signed_url = signed_url or PUBLIC + path
        signature = RequestValidator(token).compute_signature(signed_url, params)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", urllib.parse.urlencode(params).encode(),
            {"X-Twilio-Signature": signature, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.headers.get_content_type(), answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get_content_type(), exc.read().decode()

    def status(self, number, state, code="", **kwargs):
        params = {"MessageSid": self.sids[number], "SmsSid": self.sids[number],
                  "MessageStatus": state, "SmsStatus": state, "AccountSid": "AC" + "0" * 32,
                  "To": number, "From": "+15005550006", "ApiVersion": "2010-04-01"}
        if code:
            params["ErrorCode"] = code
        return self.post("/twilio/status", params, **kwargs)

    def text(self, number, body, sid="SM" + "9" * 32, **kwargs):
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                  "From": number, "To": "+15005550006", "Body": body, "NumMedia": "0"}
        return self.post("/twilio/inbound", params, **kwargs)

    def stop(self):
        self.endpoint.stop()


@pytest.fixture
def served(home, fake):
    running = Served(home, fake)
    yield running
    running.stop()


def feedback_of(number):
    delivery = Delivery.get(Delivery.address == number)
    return [(s.kind, s.detail) for s in feedback.of_deliveries([delivery.id]).get(delivery.id, [])]


def test_signed_status_callbacks_are_recorded(served):
    assert served.status("+14155550000", "delivered")[0] == 200
    assert served.status("+14155550001", "undelivered", "30003")[0] == 200
    assert feedback_of("+14155550000") == [("delivered", "delivered")]
    assert feedback_of("+14155550001") == [
        ("undelivered", "undelivered: Twilio error 30003: unreachable destination handset (off, "
                        "out of coverage, or cannot receive SMS)")]
    assert "30003" in Delivery.get(Delivery.address == "+14155550001").error
    counts = feedback.counts(served.cid)
    assert (counts.delivered, counts.undelivered) == (1, 1)


def test_a_forged_signature_is_refused_and_records_nothing(served):
    events = Event.select().count()
    local = f"http://127.0.0.1:{served.port}/twilio/status"
    assert served.status("+14155550000", "delivered", token="not-the-token")[0] == 403
    # signed for the address behind the proxy: not what Twilio signs
    assert served.status("+14155550000", "delivered", signed_url=local)[0] == 403
    assert served.status("+14155550000", "delivered",
                         signed_url=PUBLIC + "/twilio/inbound")[0] == 403
    assert served.text("+14155550000", "STOP", token="not-the-token")[0] == 403
    unsigned = urllib.request.Request(
        local, urllib.parse.urlencode({"MessageSid": served.sids["+14155550000"],
                                       "MessageStatus": "delivered"}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=30)
    assert refused.value.code == 403
    assert feedback.counts(served.cid).total == 0
    assert not Suppression.select().exists()
    assert Event.select().count() == events


def test_callbacks_out_of_order_never_move_a_final_state_back(served):
    for state in ("sent", "delivered", "sending", "sent", "undelivered", "failed"):
        code = "30008" if state in ("undelivered", "failed") else ""
        assert served.status("+14155550002", state, code)[0] == 200
    assert feedback_of("+14155550002") == [("delivered", "delivered")]
    assert Delivery.get(Delivery.address == "+14155550002").error is None
    counts = feedback.counts(served.cid)
    assert (counts.delivered, counts.undelivered) == (1, 0)


def test_a_callback_without_its_fields_is_a_bad_request(served):
    assert served.post("/twilio/status", {"MessageStatus": "delivered"})[0] == 400
    assert feedback.counts(served.cid).total == 0


@pytest.mark.parametrize("content_type", [
    "multipart/form-data", "application/x-www-form-urlencoded; charset=bogus"])
def test_an_unreadable_form_is_a_bad_request_not_a_crash(served, content_type):
    answer = served.post("/twilio/inbound", {"From": "+14155550001", "Body": "STOP"},
                         headers={"Content-Type": content_type})
    assert answer[0] == 400 and "unreadable form body" in answer[2], answer
    assert answer[2].count("\n") == 1
    assert not Suppression.select().exists()


def test_inbound_stop_and_start_change_the_suppression(served):
    answer = served.text("+14155550001", "stop ")
    assert answer == (200, "text/xml", '<?xml version="1.0" encoding="UTF-8"?><Response/>')
    row = Suppression.get(Suppression.address == "+14155550001")
    assert (row.channel, row.reason, row.campaign_id) == ("sms", STOP_REASON, served.cid)
    assert served.text("+14155550001", "HELP", sid="SM" + "8" * 32)[:2] == (200, "text/xml")
    assert Suppression.select().count() == 1
    assert served.text("+14155550001", "Start", sid="SM" + "7" * 32)[0] == 200
    assert not Suppression.select().exists()


def test_an_inbound_reply_shows_in_the_campaign_that_texted_the_number(served):
    assert served.text("+14155550002", "See you there")[0] == 200
    messages = [e.message for e in Event.select().where(Event.campaign == served.cid)]
    assert "reply from +14155550002: See you there" in messages
    assert feedback.counts(served.cid).replied == 1


def test_a_reply_with_a_nul_is_recorded_without_it(served):
    """PostgreSQL stores no NUL in text: the reply was a 500 there, and Twilio retried it."""
    assert served.text("+14155550002", "See\x00 you")[0] == 200
    messages = [e.message for e in Event.select().where(Event.campaign == served.cid)]
    assert "reply from +14155550002: See you" in messages


def test_without_a_public_url_nothing_can_be_verified(home, fake):
    served = Served(home, fake, public_url=None)
    try:
        assert served.status("+14155550000", "delivered",
                             signed_url=f"http://127.0.0.1:{served.port}/twilio/status")[0] == 403
        assert feedback.counts(served.cid).total == 0
    finally:
        served.stop()


def test_messages_carry_the_status_callback_only_with_a_public_url(home, fake):
    toml = twilio_toml(fake.url) + web_toml(free_port())
    settings, cid = make_home(home, toml, count=2, channel="sms", body="x")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert {r["StatusCallback"] for r in fake.requests} == {PUBLIC + "/twilio/status"}


def test_no_status_callback_without_a_public_url(home, fake):
    settings, cid = make_home(home, twilio_toml(fake.url), count=1, channel="sms", body="x")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    assert "StatusCallback" not in fake.requests[0]


def test_twilios_spec_accepts_the_status_callback(home):
    prism = Prism()
    try:
        toml = twilio_toml(prism.url) + web_toml(free_port())
        settings, cid = make_home(home, toml, count=3, channel="sms", body="x")
        control.launch(settings, cid)
        wait_status(cid, "completed", timeout=120)
        assert counts_add_up(cid)["sent"] == 3, [d.error for d in Delivery.select()]
    finally:
        prism.stop()


def test_a_webhook_rule_signing_with_a_shared_key(home, fake, monkeypatch):
    monkeypatch.setenv("TWILIO_WEBHOOK_SHARED_KEY", "shared-key-secret")
    served = Served(home, fake)
    rule = {"X-Twilio-Webhooks-Signature-Settings": "key=KS0001,algorithm=HMAC_SHA256"}
    try:
        # the Auth Token no longer signs what a rule names a key for
        assert served.status("+14155550000", "delivered", headers=rule)[0] == 403
        params = {"MessageSid": served.sids["+14155550000"], "MessageStatus": "delivered"}
        signature = RequestValidator("shared-key-secret").compute_signature(
            PUBLIC + "/twilio/status", params, "HMAC_SHA256")
        request = urllib.request.Request(
            f"http://127.0.0.1:{served.port}/twilio/status",
            urllib.parse.urlencode(params).encode(), {"X-Twilio-Signature": signature, **rule})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        assert feedback_of("+14155550000") == [("delivered", "delivered")]
    finally:
        served.stop()


def test_a_final_status_that_comes_before_its_sid_is_recorded_still_counts(served, monkeypatch):
    """A runner records MessageSids after its batch: a fast failure can be called back first."""
    number = "+14155550000"
    Delivery.update(provider_id=None).where(Delivery.address == number).execute()
    # the state the ordering means: the endpoint looked the sid up and found no delivery (a spy
    # on the real lookup, which still does the work)
    missed = threading.Event()
    lookup = status.apply

    def spied(settings, report):
        applied = lookup(settings, report)
        if applied is None:
            missed.set()
        return applied
    monkeypatch.setattr(status, "apply", spied)
    answers = []
    caller = threading.Thread(target=lambda: answers.append(
        served.status(number, "failed", "30001")))
    caller.start()
    assert missed.wait(30), "the callback never looked its sid up"
    Delivery.update(provider_id=served.sids[number]).where(Delivery.address == number).execute()
    caller.join(30)
    assert answers and answers[0][0] == 200
    assert feedback_of(number) == [
        ("undelivered", "failed: Twilio error 30001: queue overflow: too many messages queued "
                        "for this sender")]
