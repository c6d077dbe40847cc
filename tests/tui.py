"""Helpers for driving the real app with Pilot against a seeded home."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from messagehub_tui import campaigns, contacts, control
from messagehub_tui.app import create_app
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.models import Campaign, Event, Suppression

FROZEN = datetime(2030, 1, 1, 8, 0, 0)

PEOPLE = ("email,phone,first_name,last_name,city\n"
          "ada@example.com,+14155550101,Ada,Lovelace,London\n"
          "grace@example.com,+14155550102,Grace,Hopper,New York\n"
          "zoe@example.com,+33612345678,Zoë,Dupré,Paris\n")


def seed(home, toml: str = "") -> object:
    """A home with three contacts in list `people` and one email draft; returns the settings."""
    (home / "messagehub.toml").write_text(toml)
    settings = load_settings(home)
    open_db(settings.db_location)
    (home / "people.csv").write_text(PEOPLE, encoding="utf-8")
    contacts.import_csv(home / "people.csv", home, "people")
    campaigns.create(settings, "Welcome", "email", "people", "Hi {{ first_name }} in {{ city }}",
                     subject="Welcome {{ first_name }}")
    return settings


def seed_showcase(settings) -> None:
    """Fixed-time campaigns for snapshots: scheduled, completed with events, an SMS draft."""
    contacts.suppress(["zoe@example.com"], "email", "asked to stop")
    Suppression.update(created_at=FROZEN - timedelta(days=2)).execute()
    scheduled = campaigns.create(settings, "Spring sale", "email", "people", "Sale for {{ city }}",
                                 subject="Sale")
    Campaign.update(status="scheduled", scheduled_at=FROZEN + timedelta(minutes=90)).where(
        Campaign.id == scheduled.id).execute()
    done = campaigns.create(settings, "Reminder", "sms", "people",
                            "Hi {{ first_name }}, see you in {{ city }}!")
    control.launch(settings, done.id, start=False)
    from messagehub_tui.models import Delivery, db
    db.execute_sql("UPDATE delivery SET status = 'sent', provider_id = 'SM1' "
                   "WHERE campaign_id = ? AND address != '+33612345678'", (done.id,))
    db.execute_sql("UPDATE delivery SET status = 'failed', error = 'Twilio error 21211' "
                   "WHERE campaign_id = ? AND address = '+33612345678'", (done.id,))
    Campaign.update(status="completed", started_at=FROZEN - timedelta(minutes=5),
                    finished_at=FROZEN - timedelta(minutes=3)).where(
        Campaign.id == done.id).execute()
    Event.delete().execute()
    for minute, level, message in ((5, "info", "launched: 3 recipients, 0 suppressed"),
                                   (5, "info", "runner 1 started (pid 4242)"),
                                   (4, "error", "1 failed: Twilio error 21211: The 'To' number is "
                                                "not valid (e.g. +33612345678)"),
                                   (3, "info", "campaign completed")):
        Event.create(campaign=done.id, at=FROZEN - timedelta(minutes=minute), level=level,
                     message=message)
    assert Delivery.select().count() == 3
    campaigns.create(settings, "Opening hours", "sms", "people",
                     "Hi {{ first_name }}, our {{ city }} shop now opens at 8:00. Reply STOP to "
                     "opt out.")


def make_app(settings, frozen: bool = False, **options):
    if frozen:
        options.setdefault("clock", lambda: FROZEN)
    return create_app(settings, run_scheduler=options.pop("run_scheduler", False),
                      refresh_every=options.pop("refresh_every", 0.2), **options)


async def settle(pilot) -> None:
    """Let the screens' workers finish (not those following a campaign) and the screen catch up."""
    from textual.worker import WorkerCancelled
    await pilot.pause()
    for _ in range(20):
        screen_workers = [w for w in pilot.app.workers
                          if w.group != "campaigns" and not w.is_finished]
        if not screen_workers:
            break
        try:
            await pilot.app.workers.wait_for_complete(screen_workers)
        except WorkerCancelled:
            # An exclusive poll replaced the one awaited (ticks come every 0.2 s): wait again.
            continue
    await pilot.pause()


async def until(pilot, check, timeout: float = 30.0, what: str = "condition"):
    """Poll check() between UI frames until it is truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def status_of(campaign_id: int) -> str:
    return Campaign.get_by_id(campaign_id).status


def screen_text(app) -> str:
    """Everything the Static and DataTable widgets of the current screen show, as text."""
    from textual.widgets import DataTable, Static
    parts = []
    for widget in app.screen.query(Static):
        parts.append(str(widget.render()))
    for table in app.screen.query(DataTable):
        for row in range(table.row_count):
            parts.append(" ".join(str(cell) for cell in table.get_row_at(row)))
    return "\n".join(parts)


def toasts(app) -> list[str]:
    """The text of every notification on screen now (the app must run with notifications=True)."""
    from textual.widgets._toast import Toast
    return [str(toast.render()) for toast in app.screen.query(Toast)
            if toast.display and toast.parent.display]


class Clock:
    """A clock the test moves by hand: `clock()` is now, `clock.advance(seconds)`."""

    def __init__(self, start: datetime = FROZEN):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def seeded_in_utc(home, monkeypatch):
    """The seeded home of the TUI tests, with the clock's zone fixed to UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return seed(home)


async def opens(pilot, key: str, screen_type) -> None:
    """Press a key and wait until it has opened a screen of that type."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, screen_type),
                what=f"{key} to open {screen_type.__name__}")


async def open_deliveries(pilot, rows: int):
    """From the launcher: the selected campaign's monitor, then its deliveries screen, once it
    lists `rows` deliveries and has settled; its table."""
    from textual.widgets import DataTable

    from messagehub_tui.screens.deliveries import DeliveriesScreen
    from messagehub_tui.screens.monitor import MonitorScreen
    await settle(pilot)
    await opens(pilot, "enter", MonitorScreen)
    await opens(pilot, "d", DeliveriesScreen)
    table = pilot.app.screen.query_one(DataTable)
    await until(pilot, lambda: table.row_count == rows, what="the deliveries listed")
    await settle(pilot)
    return table
