"""The endpoint with real runners, a real SMTP server and a real daemon: the List-Unsubscribe
link of a received message unsubscribes its recipient; an unsubscribe during a run skips the
pending recipient; bounces past max_bounce_rate pause the campaign; the daemon serves and the
app yields to it."""

from __future__ import annotations

import email
import json
from email import policy

import pytest

from messagehub_tui import control, signing
from messagehub_tui.config import WEBHOOK_TOKEN_ENV
from messagehub_tui.config_load import load_settings
from messagehub_tui.models import Delivery, Suppression
from messagehub_tui.web.serving import Endpoint
from messagehub_tui.workers.daemonlock import daemon_pid
from tests.engine import counts_add_up, make_home, poll, wait_status
from tests.test_engine_smtp import smtp_toml
from tests.test_scheduling import start_daemon, stop_daemon
from tests.webtools import ONE_CLICK, answers, free_port, request, web_toml

# Storage-touching: every test with a home runs on SQLite and on PostgreSQL.
BOTH_ENGINES = True

PUBLIC = "https://news.example.com/mh"


@pytest.fixture(autouse=True)
def file_key(monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)


def _message_to(handler, address: str) -> email.message.EmailMessage:
    data = next(data for rcpts, data in handler.messages if rcpts == [address])
    return email.message_from_bytes(data, policy=policy.default)


def test_the_link_in_a_received_message_unsubscribes_its_recipient(home, smtp_server):
    smtp_port, handler = smtp_server
    port = free_port()
    toml = (smtp_toml(smtp_port, unsubscribe='"mailto:leave@example.com"')
            + web_toml(port, PUBLIC))
    settings, cid = make_home(home, toml, count=5,
                              body="Hi {{ first_name }}\nLeave: {{ unsubscribe_url }}\n")
    control.launch(settings, cid)
    wait_status(cid, "completed")
    message = _message_to(handler, "user3@example.com")
    links = [part.strip(" <>") for part in message["List-Unsubscribe"].split(",")]
    assert links[0].startswith(f"{PUBLIC}/u/")
    # The mailto names the same delivery by its signed token, for the bounce mailbox to read.
    token = links[0].rsplit("/", 1)[1]
    assert links[1] == f"mailto:leave@example.com?subject=unsubscribe%20{token}"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Leave: {links[0]}" in message.get_content()
    assert "user3" not in links[0], "no address in the link"
    endpoint = Endpoint(settings).start()
    try:
        poll(endpoint.serving.is_set, 30, what="the endpoint serving")
        # what the reverse proxy does: public_url's prefix off, to [web] listen
        local = links[0].replace(PUBLIC, f"http://127.0.0.1:{port}")
        assert request(local, ONE_CLICK).status == 200
    finally:
        endpoint.stop()
    assert [s.address for s in Suppression.select()] == ["user3@example.com"]


def test_an_unsubscribe_during_the_run_skips_the_pending_recipient(home, smtp_server):
    smtp_port, handler = smtp_server
    port = free_port()
    settings, cid = make_home(home, smtp_toml(smtp_port) + web_toml(port), count=30, rate=5)
    endpoint = Endpoint(settings).start()
    try:
        poll(endpoint.serving.is_set, 30, what="the endpoint serving")
        control.launch(settings, cid)  # 30 at 5/s: the last one is due in 6 s
        last = Delivery.get((Delivery.campaign == cid)
                            & (Delivery.address == "user29@example.com"))
        assert Delivery.get_by_id(last.id).status == "pending"
        request(signing.unsubscribe_link(settings, last.id), ONE_CLICK)
        wait_status(cid, "completed")
    finally:
        endpoint.stop()
    assert Delivery.get_by_id(last.id).status == "skipped"
    assert "user29@example.com" not in handler.recipients()
    assert counts_add_up(cid)["sent"] == 29


def test_hard_bounces_past_max_bounce_rate_pause_the_campaign(home, smtp_server, monkeypatch):
    monkeypatch.setenv(WEBHOOK_TOKEN_ENV, "t" * 32)
    smtp_port, _ = smtp_server
    port = free_port()
    toml = (smtp_toml(smtp_port).replace("[delivery]", "[delivery]\nrates_after = 10\n"
                                         "max_bounce_rate = 0.05")
            + web_toml(port))
    settings, cid = make_home(home, toml, count=200, rate=20)
    control.launch(settings, cid)
    endpoint = Endpoint(load_settings(home)).start()
    try:
        poll(endpoint.serving.is_set, 30, what="the endpoint serving")
        sent = poll(lambda: list(Delivery.select().where((Delivery.campaign == cid)
                                                          & (Delivery.status == "sent"))
                                 .limit(2)) if counts_add_up(cid)["sent"] >= 2 else None,
                    what="two sent")
        for delivery in sent:
            answer = request(f"http://127.0.0.1:{port}/webhooks/bounce", json.dumps(
                {"email": delivery.address, "type": "hard", "reason": "550 5.1.1 gone"}).encode(),
                {"Authorization": "Bearer " + "t" * 32})
            assert json.loads(answer.body)["recorded"], answer.body
        paused = wait_status(cid, "paused")
    finally:
        endpoint.stop()
    assert "bounce rate" in paused.last_error and "max_bounce_rate = 0.05" in paused.last_error
    assert counts_add_up(cid)["pending"] > 0


def test_the_daemon_serves_and_the_app_yields_to_it(home):
    port = free_port()
    settings, _ = make_home(home, web_toml(port), count=1)
    app_side = Endpoint(settings, lambda: daemon_pid(settings) is None).start()
    try:
        poll(app_side.serving.is_set, 30, what="the app's endpoint serving")
        daemon = start_daemon(home)
        try:
            poll(lambda: not app_side.serving.is_set(), 30, what="the app handing over")
            # the app does not serve, so whoever answers now is the daemon
            poll(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 30,
                 what="the daemon serving")
            assert not app_side.serving.is_set()
        finally:
            stop_daemon(daemon)
        poll(app_side.serving.is_set, 30, what="the app serving again")
    finally:
        app_side.stop()
