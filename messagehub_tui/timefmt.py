"""Times for people: stored UTC shown in local time with its zone, and WHEN parsed from the user."""

from __future__ import annotations

from datetime import datetime, timezone


def to_local(moment: datetime) -> datetime:
    """A stored naive-UTC time in the local zone."""
    return moment.replace(tzinfo=timezone.utc).astimezone()


def local_text(moment: datetime | None) -> str:
    """`2026-11-28 15:04 CET` for a stored naive-UTC time, `-` for none."""
    if moment is None:
        return "-"
    return to_local(moment).strftime("%Y-%m-%d %H:%M %Z")
