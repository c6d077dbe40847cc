"""Helpers for engine tests: a home with contacts and a campaign, and polls with deadlines."""

from __future__ import annotations

import time
from pathlib import Path

from messagehub_tui import campaigns, contacts
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import open_db
from messagehub_tui.models import Campaign, ContactList


def make_home(home: Path, toml: str = "", count: int = 20, channel: str = "email",
              rate: float | None = None, **campaign) -> tuple:
    """Write messagehub.toml, import `count` contacts and create a campaign; (settings, id)."""
    (home / "messagehub.toml").write_text(toml, encoding="utf-8")
    settings = load_settings(home)
    open_db(settings.db_location)
    rows = ["email,phone,first_name,city"]
    for i in range(count):
        rows.append(f"user{i}@example.com,+1415555{i:04d},Üser{i},Zürich")
    (home / "people.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    contacts.import_csv(home / "people.csv", home, "people")
    ContactList.get_or_create(name="people")  # an import of no rows makes no list
    created = campaigns.create(
        settings, "test", channel, "people",
        campaign.pop("body", "Hello {{ first_name }} from {{ city }}\n.a dotted line\n"),
        subject=campaign.pop("subject", "Hi {{ first_name }}" if channel == "email" else ""),
        rate=rate, **campaign)
    return settings, created.id


def poll(check, timeout: float = 60.0, every: float = 0.05, what: str = "condition"):
    """Call check() until it returns something truthy, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not reached within {timeout} s")


SETTLED = {"completed", "paused", "cancelled", "failed", "interrupted", "missed"}


def wait_status(campaign_id: int, *statuses: str, timeout: float = 60.0) -> Campaign:
    """Poll until the campaign is in one of the statuses; fail at once if it settles elsewhere."""
    def check():
        campaign = Campaign.get_by_id(campaign_id)
        if campaign.status in statuses:
            return campaign
        if campaign.status in SETTLED and campaign.stop_request == "":
            raise AssertionError(f"campaign {campaign_id} is {campaign.status}, not {statuses}: "
                                 f"{campaign.last_error}")
        return None
    return poll(check, timeout, what=f"campaign {campaign_id} in {statuses}")


def counts_add_up(campaign_id: int) -> dict:
    """Assert the invariant: the delivery states add up to the total; returns the counts."""
    status = campaigns.status(campaign_id).to_json()
    assert sum(status["counts"].values()) == status["total"], status
    return status["counts"]
