"""Campaign events: a row for the monitor and a line in the campaign's own UTF-8 log file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from messagehub_tui.models import Event, db, iso_utc, utcnow


def campaign_log_path(logs_dir: Path, campaign_id: int) -> Path:
    """Where one campaign's log lines go."""
    return logs_dir / f"campaign-{campaign_id}.log"


def record_event(logs_dir: Path, campaign_id: int, message: str, level: str = "info") -> None:
    """Store an event and append it to the campaign's log file."""
    now = utcnow()
    with db.atomic():
        Event.create(campaign=campaign_id, at=now, level=level, message=message)
    log_line(logs_dir, campaign_id, message, level, now)


def log_line(logs_dir: Path, campaign_id: int, message: str, level: str = "info",
             at: datetime | None = None) -> None:
    """Append a line to the campaign's log file only: what the monitor need not show."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    with campaign_log_path(logs_dir, campaign_id).open("a", encoding="utf-8") as handle:
        handle.write(f"{iso_utc(at or utcnow())} {level.upper():7} {message}\n")

