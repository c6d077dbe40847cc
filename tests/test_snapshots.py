"""Snapshots of every screen at 80x24 (launcher at 200x60 too), seeded database, frozen clock."""

import time

import pytest

from messagehub_tui.screens.dialogs import ConfirmDialog
from tests.tui import make_app, seed, seed_showcase, settle, until


@pytest.fixture
def showcase(home, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    settings = seed(home)
    seed_showcase(settings)
    return settings


def app_for(settings):
    return make_app(settings, frozen=True, refresh_every=3600)


def after(*keys, check=None):
    async def run_before(pilot):
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
        if check is not None:
            await until(pilot, lambda: check(pilot.app))
        # A blinking cursor is drawn or not depending on the moment: keep it drawn.
        for box in pilot.app.screen.query("Input, TextArea"):
            box.cursor_blink = False
        await settle(pilot)
    return run_before


def test_launcher(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24), run_before=after())


def test_launcher_narrow(snap_compare, showcase):
    """At 60x20 the footer keeps new, launch, pause, resume, cancel, help and quit whole."""
    assert snap_compare(app_for(showcase), terminal_size=(60, 20), run_before=after())


def test_launcher_large(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(200, 60), run_before=after())


def test_launch_confirmation(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("l", check=lambda app: isinstance(
                            app.screen, ConfirmDialog)
                            and "Launch campaign" in app.screen.question))


def test_monitor_of_a_finished_campaign(snap_compare, showcase):
    def ready(app):
        return app.screen.__class__.__name__ == "MonitorScreen" and app.screen.data is not None
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("down", "down", "enter", check=ready))


def test_overview(snap_compare, showcase):
    def listed(app):  # the first poll has drawn its rows (under load it comes after settling)
        return app.screen.query_one("#overview").row_count > 0
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("o", check=listed))


def test_editor_of_an_sms_draft(snap_compare, showcase):
    def previewed(app):
        return "segment" in str(app.screen.query_one("#headers-fold").title)
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("down", "down", "down", "e", check=previewed))


def test_contacts(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24), run_before=after("i"))


def test_help(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("question_mark"))


def test_editor_with_every_field_filled(snap_compare, showcase):
    """Every field of an email draft visible at once, the Rate field included (it was 0 rows
    tall), and the HTML part summarised."""
    from messagehub_tui import campaigns
    full = campaigns.create(showcase, "Autumn letter", "email", "people",
                            "Dear {{ first_name }},\n\nAutumn news from {{ city }}.\n",
                            subject="Autumn in {{ city }}",
                            html="<html><body><p>Dear {{ first_name }}</p></body></html>",
                            sender="News <news@example.com>", rate=2.5)

    def previewed(app):
        return "Dear Ada" in str(app.screen.query_one("#preview").render())
    keys = ["down"] * 4
    assert snap_compare(app_for(showcase), terminal_size=(80, 40),
                        run_before=after(*keys, "e", check=lambda app: previewed(app)
                                         and app.screen.sub_title == f"campaign {full.id}"))
