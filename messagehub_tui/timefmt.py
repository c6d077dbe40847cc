"""Times for people: stored UTC shown in local time with its zone, and WHEN parsed from the user."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from messagehub_tui.errors import MessagehubError, shown


def to_local(moment: datetime) -> datetime:
    """A stored naive-UTC time in the local zone."""
    return moment.replace(tzinfo=UTC).astimezone()


def local_text(moment: datetime | None) -> str:
    """`2026-11-28 15:04 CET` for a stored naive-UTC time, `-` for none."""
    if moment is None:
        return "-"
    return to_local(moment).strftime("%Y-%m-%d %H:%M %Z")


_RELATIVE = re.compile(r"^\+(\d+)\s*([smhd])$", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
# How far ahead a send can be scheduled: far enough for any plan, near enough that every time
# stays printable in every zone (year 9999 in UTC overflows in a zone east of it).
MAX_AHEAD = timedelta(days=3653)
# The forms of WHEN, for the CLI's help and for the error that refuses one
WHEN_FORMS = ("ISO-8601 with an offset (2026-12-01T09:00+01:00), local \"YYYY-MM-DD HH:MM\", "
              "or relative +90s, +10m, +2h, +1d")


def _local_to_utc(naive: datetime, text: str) -> datetime:
    """A local wall-clock time as aware UTC; refuses a time skipped by a daylight-saving change."""
    aware = naive.astimezone()
    back = aware.astimezone(UTC).astimezone()
    if back.replace(tzinfo=None) != naive:
        raise MessagehubError(f"{shown(text)} does not exist in local time ({back.tzname()}): "
                              "the clocks skip it at a daylight-saving change")
    return aware.astimezone(UTC)


def _absolute(text: str) -> datetime:
    """An absolute WHEN as aware UTC (OverflowError or ValueError for a time beyond what a zone
    can show)."""
    for fmt in _LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return _local_to_utc(naive, text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MessagehubError(f"cannot read the time {shown(text)}: use {WHEN_FORMS}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else _local_to_utc(parsed, text)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """WHEN as naive UTC: ISO-8601 with an offset, local `YYYY-MM-DD HH:MM`, or
    `+90s`/`+10m`/`+2h`/`+1d`."""
    now = now or datetime.now(UTC)
    text = text.strip()
    too_far = MessagehubError(f"{shown(text)} is more than {MAX_AHEAD.days // 365} years ahead")
    relative = _RELATIVE.match(text)
    if relative:
        digits, unit = relative.groups()
        if len(digits) > 12 or int(digits) * _UNITS[unit] > MAX_AHEAD.total_seconds():
            raise too_far
        moment = now + timedelta(seconds=int(digits) * _UNITS[unit])
    else:
        try:
            moment = _absolute(text)
        except (OverflowError, OSError, ValueError):  # past year 9999 or before year 1 in a zone
            raise MessagehubError(f"{shown(text)} is out of range: schedule between now and "
                                  f"{MAX_AHEAD.days // 365} years ahead") from None
    if moment <= now:
        current = now.astimezone(UTC).replace(tzinfo=None)
        raise MessagehubError(f"{shown(text)} is in the past (it is now {local_text(current)})")
    if moment - now > MAX_AHEAD:
        raise too_far
    return moment.astimezone(UTC).replace(tzinfo=None)


def short_local(moment: datetime, now: datetime) -> str:
    """`15:35 CET` for a time today, `Dec 01 09:00 CET` otherwise (local time, for narrow
    tables)."""
    local = to_local(moment)
    same_day = local.date() == to_local(now).date()
    return local.strftime("%H:%M %Z" if same_day else "%b %d %H:%M %Z")


def countdown(moment: datetime, now: datetime | None = None) -> str:
    """`in 2h05m` / `in 59m` / `in 45s` until a stored naive-UTC time, or `due`."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    seconds = int((moment - now).total_seconds())
    if seconds <= 0:
        return "due"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days}d{hours:02d}h"
    if hours:
        return f"in {hours}h{minutes:02d}m"
    if minutes:
        return f"in {minutes}m"
    return f"in {secs}s"
