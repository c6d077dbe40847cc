"""Database time of one monitor refresh (and one launcher refresh) for a campaign of 1,000,000
deliveries."""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table  # noqa: E402

from messagehub_tui import views  # noqa: E402
from messagehub_tui.database import open_db
from messagehub_tui.models import Campaign, ContactList, Event, db, utcnow


def fill(deliveries: int) -> int:
    """One running campaign with `deliveries` rows spread over the states, plus events."""
    contact_list = ContactList.create(name="big")
    campaign = Campaign.create(name="big", channel="email", status="running", body="x",
                               subject="s", contact_list=contact_list, started_at=utcnow())
    states = ["sent"] * 6 + ["pending"] * 2 + ["failed", "unknown"]
    now = utcnow()
    rows = ((campaign.id, f"user{i}@example.com", states[i % 10], 1, 0, now)
            for i in range(deliveries))
    with db.atomic():
        db.connection().executemany(
            "INSERT INTO delivery (campaign_id, address, status, attempts, next_attempt_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
        for i in range(2000):
            Event.create(campaign=campaign.id, message=f"event {i}",
                         level="error" if i % 5 == 0 else "info")
    return campaign.id


def timed(function, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        open_db(Path(tmp) / "messagehub.db")
        started = time.perf_counter()
        campaign_id = fill(args.deliveries)
        filled = time.perf_counter() - started
        open_db(Path(tmp) / "messagehub.db")
        data = views.monitor_data(campaign_id)
        assert sum(data.counts.values()) == args.deliveries
        open_db(Path(tmp) / "messagehub.db")
        monitor = timed(lambda: views.monitor_data(campaign_id), args.runs)
        launcher = timed(views.campaign_rows, args.runs)
    title = f"Monitor refresh, {args.deliveries:,} deliveries ({args.runs} runs; target < 30 ms)"
    print_table(title, [
        ("fill (setup, not timed)", f"{filled:.1f} s"),
        ("monitor refresh median", f"{statistics.median(monitor):.2f} ms"),
        ("monitor refresh worst", f"{max(monitor):.2f} ms"),
        ("launcher refresh median", f"{statistics.median(launcher):.2f} ms"),
        ("launcher refresh worst", f"{max(launcher):.2f} ms"),
    ])


if __name__ == "__main__":
    main()
