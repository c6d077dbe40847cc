"""One-click unsubscribe (RFC 8058) over real HTTP to the endpoint on a free port: a POST
suppresses exactly one contact and skips its pending delivery, a GET does not, a tampered or
replayed token is refused with nothing changed, a repeated POST is harmless."""

from __future__ import annotations

import pytest

from messagehub_tui import campaigns, feedback, signing
from messagehub_tui.bounces import verp
from messagehub_tui.control import launch
from messagehub_tui.models import Delivery, Event, Feedback, Suppression, audience_version
from tests.engine import make_home
from tests.webtools import FORM, ONE_CLICK, free_port, request, serve, web_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True


@pytest.fixture
def web(home, monkeypatch):
    """A launched (not started) campaign of 3 and the endpoint serving; (settings, id, base)."""
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    port = free_port()
    settings, campaign_id = make_home(home, web_toml(port), count=3)
    launch(settings, campaign_id, start=False)
    endpoint = serve(settings)
    yield settings, campaign_id, f"http://127.0.0.1:{port}"
    endpoint.stop()


def _link(settings, campaign_id: int, address: str) -> tuple[Delivery, str]:
    delivery = Delivery.get((Delivery.campaign == campaign_id) & (Delivery.address == address))
    return delivery, signing.unsubscribe_link(settings, delivery.id)


def test_get_shows_the_masked_address_and_changes_nothing(web):
    settings, campaign_id, _ = web
    _, link = _link(settings, campaign_id, "user1@example.com")
    before = audience_version()
    shown = request(link)
    assert shown.status == 200
    assert "u•••@example.com" in shown.body and "user1@" not in shown.body
    assert 'name="List-Unsubscribe" value="One-Click"' in shown.body
    assert shown.headers["Cache-Control"] == "no-store"
    assert Suppression.select().count() == 0 and Feedback.select().count() == 0
    assert audience_version() == before


def test_one_click_post_suppresses_exactly_one_contact_once(web):
    settings, campaign_id, _ = web
    delivery, link = _link(settings, campaign_id, "user1@example.com")
    before = audience_version()
    done = request(link, ONE_CLICK, FORM)
    assert done.status == 200 and "Location" not in done.headers
    rows = [(s.channel, s.address, s.reason, s.campaign_id) for s in Suppression.select()]
    assert rows == [("email", "user1@example.com", "unsubscribed", campaign_id)]
    assert Delivery.get_by_id(delivery.id).status == "skipped"
    assert audience_version() != before
    assert campaigns.status(campaign_id).to_json()["counts"]["skipped"] == 1
    assert feedback.counts(campaign_id).unsubscribed == 1
    again = request(link, ONE_CLICK, FORM)
    assert again.status == 200
    assert Suppression.select().count() == 1 and feedback.counts(campaign_id).unsubscribed == 1
    events = [e.message for e in Event.select().where(Event.campaign == campaign_id)
              if e.message.startswith("unsubscribed")]
    assert events == ["unsubscribed: user1@example.com (one-click unsubscribe)"]
    others = [d.status for d in Delivery.select().where(Delivery.id != delivery.id)]
    assert others == ["pending", "pending"]


@pytest.mark.parametrize("tamper", ["other id", "flipped", "verp token", "placeholder",
                                    "wrong body"])
def test_a_bad_token_or_body_is_refused_and_changes_nothing(web, tamper):
    settings, campaign_id, base = web
    delivery, link = _link(settings, campaign_id, "user1@example.com")
    number, mac = link.rsplit("/", 1)[1].split(".")
    body = ONE_CLICK
    if tamper == "other id":
        link = f"{base}/u/{delivery.id + 1}.{mac}"
    elif tamper == "flipped":
        link = f"{base}/u/{number}.{mac[:-1]}{'B' if mac[-1] == 'A' else 'A'}"
    elif tamper == "verp token":
        link = f"{base}/u/{verp.make_token(signing.secret_key(settings.home), delivery.id)}"
    elif tamper == "placeholder":
        link = signing.unsubscribe_link(settings, None)
    else:
        body = b"List-Unsubscribe=Yes"
    refused = request(link, body, FORM)
    assert refused.status == 400
    assert request(link).status == 400 or tamper == "wrong body"
    assert Suppression.select().count() == 0 and Feedback.select().count() == 0
    assert Delivery.get_by_id(delivery.id).status == "pending"


UNREADABLE = {  # bodies aiohttp cannot parse as a form: each was a 500 and a traceback
    "multipart without boundary": (ONE_CLICK, {"Content-Type": "multipart/form-data"}),
    "bad multipart": (b"xx", {"Content-Type": "multipart/form-data; boundary=zz"}),
    "unknown charset": (ONE_CLICK, {"Content-Type": FORM["Content-Type"] + "; charset=bogus"}),
    "not utf-8": (ONE_CLICK + b"&\xff\xfe=%ff", FORM),
}


@pytest.mark.parametrize("body, headers", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_form_is_400_and_changes_nothing(web, body, headers):
    settings, campaign_id, _ = web
    delivery, link = _link(settings, campaign_id, "user1@example.com")
    refused = request(link, body, headers)
    assert refused.status == 400 and "List-Unsubscribe=One-Click" in refused.body
    assert Suppression.select().count() == 0 and Feedback.select().count() == 0
    assert Delivery.get_by_id(delivery.id).status == "pending"


def test_the_pages_button_form_unsubscribes_like_a_mail_client(web):
    settings, campaign_id, _ = web
    _, link = _link(settings, campaign_id, "user2@example.com")
    boundary = "x1y2"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\""
                 f"\r\n\r\nOne-Click\r\n--{boundary}--\r\n").encode()
    done = request(link, multipart,
                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert done.status == 200 and "u•••@example.com" in done.body
    assert [s.address for s in Suppression.select()] == ["user2@example.com"]


def test_healthz_answers(web):
    _, _, base = web
    assert request(f"{base}/healthz").body == "messagehub-tui ok\n"


def test_an_unexpected_failure_is_one_line_in_the_log_and_a_plain_500(web, monkeypatch,
                                                                      caplog):
    """A failure no handler expected (here the database going away) is one line in the daemon's
    log naming the route, never the token, and a 500; not a traceback on stderr."""
    settings, campaign_id, _ = web
    _, link = _link(settings, campaign_id, "user1@example.com")

    def gone(delivery_id):
        raise RuntimeError("database went away")

    monkeypatch.setattr(feedback, "target", gone)
    with caplog.at_level("ERROR", logger="messagehub.web"):
        failed = request(link)
    assert failed.status == 500 and failed.body.count("\n") == 1
    lines = [(r.getMessage(), r.exc_info) for r in caplog.records if r.name == "messagehub.web"]
    assert lines == [("GET /u/{token} failed: RuntimeError: database went away", None)]
