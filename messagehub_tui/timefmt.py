"""Times for people: stored UTC shown in local time with its zone, and WHEN parsed from the user."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from messagehub_tui.errors import MessagehubError


def to_local(moment: datetime) -> datetime:
    """A stored naive-UTC time in the local zone."""
    return moment.replace(tzinfo=timezone.utc).astimezone()


def local_text(moment: datetime | None) -> str:
    """`2026-11-28 15:04 CET` for a stored naive-UTC time, `-` for none."""
    if moment is None:
        return "-"
    return to_local(moment).strftime("%Y-%m-%d %H:%M %Z")


_RELATIVE = re.compile(r"^\+(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def _local_to_utc(naive: datetime, text: str) -> datetime:
    """A local wall-clock time as aware UTC; refuses a time skipped by a daylight-saving change."""
    aware = naive.astimezone()
    back = aware.astimezone(timezone.utc).astimezone()
    if back.replace(tzinfo=None) != naive:
        raise MessagehubError(f"{text!r} does not exist in local time ({back.tzname()}): the "
                              "clocks skip it at a daylight-saving change")
    return aware.astimezone(timezone.utc)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """WHEN as naive UTC: ISO-8601 with an offset, local `YYYY-MM-DD HH:MM`, or `+90s`/`+10m`/`+2h`/`+1d`."""
    now = now or datetime.now(timezone.utc)
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        moment = now + timedelta(seconds=int(relative.group(1)) * _UNITS[relative.group(2)])
    else:
        moment = None
        for fmt in _LOCAL_FORMATS:
            try:
                moment = _local_to_utc(datetime.strptime(text, fmt), text)
                break
            except ValueError:
                continue
        if moment is None:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise MessagehubError(
                    f"cannot read the time {text!r}: use ISO-8601 with an offset "
                    "(2026-12-01T09:00+01:00), local \"YYYY-MM-DD HH:MM\", or +90s, +10m, +2h, "
                    "+1d") from None
            moment = (parsed.astimezone(timezone.utc) if parsed.tzinfo
                      else _local_to_utc(parsed, text))
    if moment <= now:
        current = now.astimezone(timezone.utc).replace(tzinfo=None)
        raise MessagehubError(f"{text!r} is in the past (it is now {local_text(current)})")
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def short_local(moment: datetime, now: datetime) -> str:
    """`15:35 CET` for a time today, `Dec 01 09:00 CET` otherwise (local time, for narrow tables)."""
    local = to_local(moment)
    same_day = local.date() == to_local(now).date()
    return local.strftime("%H:%M %Z" if same_day else "%b %d %H:%M %Z")


def countdown(moment: datetime, now: datetime | None = None) -> str:
    """`in 2h05m` / `in 59m` / `in 45s` until a stored naive-UTC time, or `due`."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
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
