"""Snapshots of every screen at 80x24 (and the launcher at 200x60), seeded database, frozen clock."""

import time

import pytest

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
        await settle(pilot)
    return run_before


def test_launcher(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24), run_before=after())


def test_launcher_large(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(200, 60), run_before=after())


def test_launch_confirmation(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("l", check=lambda app: "Launch" in str(app.screen)
                                         or app.screen.__class__.__name__ == "ConfirmDialog"))


def test_monitor_of_a_finished_campaign(snap_compare, showcase):
    def ready(app):
        return app.screen.__class__.__name__ == "MonitorScreen" and app.screen.data is not None
    assert snap_compare(app_for(showcase), terminal_size=(80, 24),
                        run_before=after("down", "down", "enter", check=ready))


def test_overview(snap_compare, showcase):
    assert snap_compare(app_for(showcase), terminal_size=(80, 24), run_before=after("o"))


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
