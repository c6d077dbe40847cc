"""What a user sees of the feedback: the monitor's counts and rates, `deliveries ID` with each
delivery's feedback, the unsubscribe event; and the app serving [web] listen while open."""

from __future__ import annotations

import json

import pytest

from messagehub_tui import control, feedback
from messagehub_tui.feedback import FeedbackKind
from messagehub_tui.models import Delivery
from messagehub_tui.screens.monitor import MonitorScreen
from tests.tui import make_app, opens, screen_text, seed, settle, until
from tests.webtools import answers, free_port, web_toml


@pytest.fixture
def heard(home):
    """Campaign 1 sent to its 3 recipients: ada unsubscribed, grace hard-bounced."""
    settings = seed(home)
    control.launch(settings, 1, start=False)
    Delivery.update(status="sent").execute()
    control.pause(settings, 1)
    ids = {d.address: d.id for d in Delivery.select()}
    feedback.unsubscribe(settings, ids["ada@example.com"], "one-click unsubscribe")
    feedback.record(ids["grace@example.com"], None, FeedbackKind.BOUNCED, "550 5.1.1 gone",
                    "bounce:<r1@mx>")
    return settings


async def test_the_monitor_shows_counts_rates_and_the_unsubscribe_event(heard):
    app = make_app(heard)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await opens(pilot, "enter", MonitorScreen)
        line = ("heard back: bounced 1 (33.3%)  complained 0 (0.0%)  unsubscribed 1 (33.3%)")
        await until(pilot, lambda: line in screen_text(app), what="feedback line")
        log = app.screen.query_one("#events")
        assert any("unsubscribed: ada@example.com (one-click unsubscribe)" in str(strip.text)
                   for strip in log.lines)


def test_deliveries_shows_each_deliverys_feedback(heard, cli):
    code, out, _ = cli("deliveries", "1", "--json")
    rows = {row["address"]: row for row in json.loads(out)}
    assert [(f["kind"], f["detail"]) for f in rows["grace@example.com"]["feedback"]] == [
        ("bounced", "550 5.1.1 gone")]
    assert rows["zoe@example.com"]["feedback"] == []
    code, out, _ = cli("deliveries", "1")
    table = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert "unsubscribed" in table["ada@example.com"] and "bounced" in table["grace@example.com"]


async def test_the_app_serves_the_endpoint_while_no_daemon_runs(home):
    port = free_port()
    settings = seed(home, web_toml(port))
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.endpoint is not None and app.endpoint.serving.is_set(),
                    what="the app serving")
        assert answers(f"http://127.0.0.1:{port}/healthz")
    assert not answers(f"http://127.0.0.1:{port}/healthz"), "closed with the app"
