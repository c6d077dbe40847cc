"""The bounce webhook over real HTTP: the bearer token is required and compared, a bad body is
refused with one line, a good report goes through the bounce policy once."""

from __future__ import annotations

import json

import pytest

from messagehub_tui import feedback
from messagehub_tui.config import WEBHOOK_TOKEN_ENV
from messagehub_tui.control import launch
from messagehub_tui.models import Delivery, Feedback, Suppression
from tests.engine import make_home
from tests.webtools import free_port, request, serve, web_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

TOKEN = "hook-token-0123456789abcdef"


@pytest.fixture
def hook(home, monkeypatch):
    """An email and an SMS campaign of 3, every delivery sent; the endpoint with the token set;
    (campaign ids, URL)."""
    monkeypatch.setenv(WEBHOOK_TOKEN_ENV, TOKEN)
    port = free_port()
    settings, email_id = make_home(home, web_toml(port), count=3)
    from messagehub_tui import campaigns
    sms_id = campaigns.create(settings, "sms", "sms", "people", "Hi").id
    for campaign_id in (email_id, sms_id):
        launch(settings, campaign_id, start=False)
    Delivery.update(status="sent").execute()
    endpoint = serve(settings)
    yield (email_id, sms_id), f"http://127.0.0.1:{port}/webhooks/bounce"
    endpoint.stop()


def post(url: str, body, token: str | None = TOKEN, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return request(url, raw if raw is not None else json.dumps(body).encode(), headers)


HARD = {"email": "User1@example.com", "type": "hard", "reason": "550 5.1.1 no such user"}


@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1], TOKEN + "x"])
def test_a_missing_or_wrong_token_is_401_and_records_nothing(hook, token):
    _, url = hook
    refused = post(url, HARD, token)
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert Suppression.select().count() == 0


def test_without_the_token_configured_the_webhook_is_off(home, monkeypatch):
    monkeypatch.delenv(WEBHOOK_TOKEN_ENV, raising=False)
    port = free_port()
    settings, _ = make_home(home, web_toml(port), count=1)
    endpoint = serve(settings)
    try:
        off = post(f"http://127.0.0.1:{port}/webhooks/bounce", HARD)
    finally:
        endpoint.stop()
    assert off.status == 503 and WEBHOOK_TOKEN_ENV in off.body


@pytest.mark.parametrize("raw, line", [
    (b"{not json", "not JSON"),
    (b"[1]", "expected a JSON object"),
    (json.dumps({"type": "hard", "reason": "x"}).encode(), 'exactly one of "email" and "phone"'),
    (json.dumps({**HARD, "type": "bounce"}).encode(), '"type" must be "hard", "soft"'),
    (json.dumps({**HARD, "extra": 1}).encode(), "unknown field 'extra'"),
    (json.dumps({"phone": "12", "type": "hard"}).encode(), '"phone": '),
    # each of these was a 500 and a traceback
    pytest.param(b"[" * 30000, "nested too deeply", id="deep"),
    pytest.param(json.dumps({**HARD, "reason": "\ud800"}).encode(),
                 '"reason" holds a NUL or a lone', id="surrogate"),
    pytest.param(json.dumps({**HARD, "email": "a\x00@example.com"}).encode(),
                 '"email" holds a NUL', id="nul"),
])
def test_a_bad_body_is_400_with_one_line(hook, raw, line):
    _, url = hook
    refused = post(url, None, raw=raw)
    assert refused.status == 400
    assert line in refused.body and refused.body.count("\n") == 1, refused.body
    assert Suppression.select().count() == 0


def test_a_hard_bounce_suppresses_once_and_counts(hook):
    (email_id, _), url = hook
    first = post(url, HARD)
    assert first.status == 200
    answer = json.loads(first.body)
    assert (answer["recorded"], answer["suppressed"]) == (True, True)
    assert json.loads(post(url, HARD).body)["recorded"] is False
    assert [(s.address, s.reason) for s in Suppression.select()] == [
        ("user1@example.com", "bounced: 550 5.1.1 no such user")]
    assert feedback.counts(email_id).bounced == 1


def test_two_reports_of_one_bounce_count_one_bounced_delivery(hook):
    (email_id, _), url = hook
    assert json.loads(post(url, HARD).body)["recorded"] is True
    # the same bounce told again in other words (another provider, the DSN's own text)
    again = json.loads(post(url, {**HARD, "reason": "5.1.1 mailbox unknown"}).body)
    assert again["delivery_id"] is not None
    for reason in ("spam report", "another spam report"):
        post(url, {**HARD, "type": "complaint", "reason": reason})
    counts = feedback.counts(email_id)
    assert (counts.bounced, counts.complained) == (1, 1)  # one delivery, 3 messages sent
    assert Feedback.select().where(Feedback.kind == "bounced").count() == 2  # both kept


def test_a_complaint_and_a_soft_bounce_by_phone(hook):
    (_, sms_id), url = hook
    soft = json.loads(post(url, {"phone": "+14155550002", "type": "soft",
                                 "reason": "30003 unreachable"}).body)
    assert (soft["recorded"], soft["suppressed"]) == (True, False)
    complaint = json.loads(post(url, {"phone": "+14155550002", "type": "complaint",
                                      "reason": "reported as spam"}).body)
    assert complaint["suppressed"] is True
    assert [(s.channel, s.address, s.reason) for s in Suppression.select()] == [
        ("sms", "+14155550002", "complained")]
    counts = feedback.counts(sms_id)
    assert (counts.soft_bounced, counts.complained) == (1, 1)


def test_a_report_about_a_stranger_records_nothing(hook):
    _, url = hook
    answer = json.loads(post(url, {**HARD, "email": "nobody@example.net"}).body)
    assert answer == {"recorded": False, "delivery_id": None, "suppressed": False}
    assert Suppression.select().count() == 0
