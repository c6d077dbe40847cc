"""How soon the app notices that a campaign it launched has ended: from the campaign's finished_at
to the app saying so (its follow worker polls every app.FOLLOW_EVERY seconds).
tests/test_tui.py checks that the follow worker notices it at all; the time is measured here."""

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table  # noqa: E402

from messagehub_tui import campaigns, contacts  # noqa: E402
from messagehub_tui.app import FOLLOW_EVERY, create_app  # noqa: E402
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from messagehub_tui.models import Campaign, utcnow


async def one_run(home: Path) -> float:
    """Seconds from finished_at to the app's CampaignFinished, for a 5-recipient outbox send."""
    settings = load_settings(home)
    open_db(settings.db_location)
    (home / "people.csv").write_text("email,first_name\n" + "".join(
        f"user{i}@example.com,U{i}\n" for i in range(5)), encoding="utf-8")
    contacts.import_csv(home / "people.csv", home, "people")
    campaign_id = campaigns.create(settings, "bench", "email", "people", "Hi {{ first_name }}",
                                   subject="Hi").id
    app = create_app(settings, run_scheduler=False, refresh_every=3600)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.start_campaign(campaign_id)
        # the app says "campaign N completed" when it handles CampaignFinished
        while not any("completed" in note.message for note in app._notifications):
            await pilot.pause(0.01)
        noticed = utcnow()
    finished = Campaign.get_by_id(campaign_id).finished_at
    close_db()
    return (noticed - finished).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    delays = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            delays.append(asyncio.run(one_run(Path(tmp))))
    print_table("app notices a campaign's end (finished_at -> its notification)", [
        ("runs", str(args.runs)),
        ("follow poll", f"{FOLLOW_EVERY * 1000:.0f} ms"),
        ("median", f"{statistics.median(delays) * 1000:.0f} ms"),
        ("max", f"{max(delays) * 1000:.0f} ms"),
    ])


if __name__ == "__main__":
    main()
