"""One check per configuration value: a clean value back, or ValueError saying what is allowed.

Numbers must be finite and within bounds a real setup never needs to pass: TOML (and the CLI's
`--rate`) accept `nan`, `inf` and 19-digit integers, which would otherwise reach the senders.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Callable
from email.utils import parseaddr
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from messagehub_tui.compose import check_syntax
from messagehub_tui.engines import url_problem
from messagehub_tui.errors import TemplateProblem, shown

MAX_RATE = 10_000          # messages per second; no SMTP server or Twilio account goes faster
MAX_CONNECTIONS = 100
MAX_PROCESSES = 64
AUTO_PROCESSES_MAX = 4     # "auto": past 4 runners one SQLite file is the limit, not the cores
MAX_BATCH = 10_000
MAX_ATTEMPTS = 100
MAX_STREAK = 1_000_000
MAX_DURATION = 366 * 86400.0
MAX_TIMEOUT = 3600.0
MAX_RESTARTS = 10

Choice = TypeVar("Choice", bound=StrEnum)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _number(value: Any) -> float | None:
    """A finite int or float as float; None for anything else (bool, str, nan, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_duration(text: str | int | float) -> float:
    """Seconds from `90`, `"90s"`, `"15m"`, `"2h"`, `"1d"` or `"250ms"`, at most 366 days."""
    if isinstance(text, str):
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"expected a duration such as \"15m\", got {text!r}")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        number = _number(text)
        if number is None:
            raise ValueError(f"expected a duration such as \"15m\", got {text!r}")
        seconds = number
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError("a duration cannot be longer than 366d")
    return seconds


def rate(value: Any) -> float:
    """Messages per second: 0 for unlimited, else up to MAX_RATE. The one rule for the config's
    `rate` keys and a campaign's own rate."""
    number = _number(value)
    if number is None or not 0 <= number <= MAX_RATE:
        raise ValueError(f"must be a number of messages per second from 0 (unlimited) to "
                         f"{MAX_RATE}, not {value!r}")
    return number


def whole(most: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise ValueError(f"must be a whole number from 1 to {most}")
        return value
    return check


def auto_processes() -> int:
    """What `processes = "auto"` means: one runner per core this process may use, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, AUTO_PROCESSES_MAX))


def processes(value: Any) -> int:
    """Runner processes per campaign: "auto" (the default) or a whole number."""
    if value == "auto":
        return auto_processes()
    try:
        return whole(MAX_PROCESSES)(value)
    except ValueError:
        raise ValueError(f'must be "auto" or a whole number from 1 to {MAX_PROCESSES}') from None


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def duration(value: Any) -> float:
    return parse_duration(value)


def timeout(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError("must be more than zero and at most 1h")
    return seconds


def restart_delays(value: Any) -> tuple[float, ...]:
    """[schedule] restart_delays: the daemon's wait before each restart in turn of a campaign
    whose runners keep dying; the death after the last one pauses the campaign instead."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RESTARTS:
        raise ValueError(f"must be a list of 1 to {MAX_RESTARTS} durations, such as "
                         f"[\"5s\", \"20s\"], not {shown(str(value))}")
    delays = []
    for number, item in enumerate(value, 1):
        try:
            delays.append(timeout(item))
        except ValueError as exc:
            raise ValueError(f"entry {number}: {exc}") from None
    return tuple(delays)


def choice(options: type[Choice]) -> Callable[[Any], Choice]:
    """One of an enum's values, as its member."""
    def check(value: Any) -> Choice:
        try:
            return options(value)
        except (ValueError, TypeError):
            raise ValueError(f"must be one of {', '.join(options)}") from None
    return check


def is_one_line(value: str) -> bool:
    """No line break or control character: the text goes into tables, logs and one-line
    messages (a campaign's name, a suppression's reason)."""
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain a line break")
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    return value


def sender(value: Any) -> str:
    value = text(value)
    if "@" not in parseaddr(value)[1]:
        raise ValueError("must be an email address, optionally with a name: "
                         "\"News <news@example.com>\"")
    return value


def return_path(value: Any) -> str:
    """A VERP envelope sender template: an address with `{token}` in its local part."""
    value = text(value)
    local, at, domain = value.partition("@")
    if "{token}" not in local or not at or "{" in domain or not domain or " " in value:
        raise ValueError("must be an address with {token} in its local part, such as "
                         "\"bounces+{token}@example.com\"")
    return value


def pem_file(value: Any) -> str:
    """A file of PEM certificates: an absolute path (or ~/…) to a file that exists now; whether
    it holds certificates is told when a connection loads it."""
    path = os.path.expanduser(text(value))
    if not os.path.isabs(path):
        raise ValueError(f"must be an absolute path to a PEM file, such as \"/etc/ssl/my-ca.pem\""
                         f"; {value!r} is relative")
    if not os.path.isfile(path):
        raise ValueError(f"names no file: {path} does not exist or is not a file")
    return path


def bool_value(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def pattern(regex: re.Pattern, what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise ValueError(f"must be {what}")
        return value
    return check


def url(value: Any) -> str:
    value = text(value)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def fraction(value: Any) -> float:
    """A share from 0 to 1, such as 0.05 for 5 %."""
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        raise ValueError(f"must be a fraction from 0 to 1 (0.05 is 5 %), not {value!r}")
    return number


_LISTEN = re.compile(r"^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$")


def listen(value: Any) -> tuple[str, int]:
    """Where a server listens: "host:port" ("[::1]:8080" for IPv6); (host, port)."""
    match = _LISTEN.match(value) if isinstance(value, str) else None
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ValueError(f"must be host:port such as \"127.0.0.1:8080\", not {value!r}")
    return match.group(1) or match.group(2), int(match.group(3))


def base_url(value: Any) -> str:
    """An http(s) URL that paths are appended to: no query, no fragment."""
    value = url(value)
    if "?" in value or "#" in value or " " in value:
        raise ValueError("must be an http:// or https:// URL without ? or #, such as "
                         "\"https://news.example.com/mh\"")
    parts = urlsplit(value)
    host = parts.netloc
    if "@" in host:  # it would be in every email's link; urllib also fails on it
        raise ValueError("must not name a user or password: every message's unsubscribe link "
                         "is built from it")
    try:
        _ = parts.port  # reading it checks it
    except ValueError:
        raise ValueError(f"has a bad port in {host!r}") from None
    return value


def database_url(value: Any) -> str:
    problem = url_problem(text(value))
    if problem:
        raise ValueError(problem)
    return value


def unsubscribe_parts(value: str) -> list[str]:
    """The link templates of an `unsubscribe` value."""
    return [part.strip() for part in value.split(",") if part.strip()]


def unsubscribe(value: Any) -> str:
    """mailto: and/or http(s) link templates, comma-separated, each one compiling now rather than
    when a campaign launches."""
    parts = unsubscribe_parts(text(value))
    if not parts or not all(p.startswith(("mailto:", "https://", "http://")) for p in parts):
        raise ValueError("must be a mailto: address and/or an https:// URL template, "
                         "comma-separated")
    for part in parts:
        try:
            check_syntax(part, f"does not compile ({part!r})")
        except TemplateProblem as exc:
            raise ValueError(str(exc)) from None
    return ", ".join(parts)


def region(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z]{2}$", value):
        raise ValueError("must be a two-letter region code such as \"US\"")
    import phonenumbers  # here: loading it costs every runner's start 0.1 s of CPU otherwise

    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"must be a region code the phone number library knows, such as \"US\" "
                         f"or \"GB\"; {value!r} is not one")
    return value.upper()
