"""Where things live and the settings from <home>/messagehub.toml plus secrets from the environment."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Callable

from messagehub_tui.errors import ConfigError

CONFIG_NAME = "messagehub.toml"
DB_NAME = "messagehub.db"
SMTP_PASSWORD_ENV = "MESSAGEHUB_SMTP_PASSWORD"
TWILIO_TOKEN_ENV = "TWILIO_AUTH_TOKEN"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def parse_duration(text: str | int | float) -> float:
    """Seconds from `90`, `"90s"`, `"15m"`, `"2h"`, `"1d"` or `"250ms"`."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as \"15m\"")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"expected a duration such as \"15m\", got {text!r}")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


@dataclass(frozen=True)
class EmailSettings:
    """The [email] section: SMTP server, sender and sending pace."""

    transport: str = "outbox"
    host: str = "localhost"
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    sender: str | None = None
    connections: int = 4
    timeout: float = 30.0
    rate: float = 0.0
    verify: bool = True
    unsubscribe: str | None = None
    # AUTH over an unencrypted connection, only ever with security = "none" (owned by smtp)
    allow_plaintext_auth: bool = False
    password: str | None = field(default=None, repr=False)

    @property
    def effective_port(self) -> int:
        """The configured port, else the usual one for the security mode."""
        if self.port:
            return self.port
        return {"tls": 465, "starttls": 587, "none": 25}[self.security]


@dataclass(frozen=True)
class SmsSettings:
    """The [sms] section: Twilio account, sender and sending pace."""

    transport: str = "outbox"
    account_sid: str | None = None
    sender: str | None = None
    messaging_service_sid: str | None = None
    rate: float = 0.0
    api_base_url: str | None = None
    default_region: str | None = None
    timeout: float = 30.0
    connections: int = 4
    auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ScheduleSettings:
    """The [schedule] section: how late a scheduled send may still go out."""

    misfire_grace: float = 900.0
    resume_interrupted: bool = True


@dataclass(frozen=True)
class DeliverySettings:
    """The [delivery] section: runner processes, batches and retries."""

    processes: int = 1
    batch_size: int = 200
    max_attempts: int = 5
    retry_base: float = 30.0
    retry_max: float = 3600.0
    failure_streak: int = 50


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about one home."""

    home: Path
    email: EmailSettings = EmailSettings()
    sms: SmsSettings = SmsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()

    @property
    def db_path(self) -> Path:
        return self.home / DB_NAME

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value
    return check


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain a line break")
    return value


def _sender(value: Any) -> str:
    value = _text(value)
    if "@" not in parseaddr(value)[1]:
        raise ValueError("must be an email address, optionally with a name: \"News <news@example.com>\"")
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError("must be a port number from 1 to 65535")
    return value


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number of messages per second, 0 for unlimited")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _pattern(regex: re.Pattern, what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise ValueError(f"must be {what}")
        return value
    return check


def _url(value: Any) -> str:
    value = _text(value)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _unsubscribe(value: Any) -> str:
    value = _text(value)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or not all(p.startswith(("mailto:", "https://", "http://")) for p in parts):
        raise ValueError("must be a mailto: address and/or an https:// URL template, comma-separated")
    return ", ".join(parts)


def _region(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z]{2}$", value):
        raise ValueError("must be a two-letter region code such as \"US\"")
    return value.upper()


def _duration(value: Any) -> float:
    return parse_duration(value)


def _timeout(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be more than zero")
    return seconds


_SCHEMA: dict[str, tuple[type, dict[str, tuple[str, Callable[[Any], Any]]]]] = {
    "email": (EmailSettings, {
        "transport": ("transport", _choice("outbox", "smtp")),
        "host": ("host", _text),
        "port": ("port", _port),
        "security": ("security", _choice("starttls", "tls", "none")),
        "username": ("username", _text),
        "from": ("sender", _sender),
        "connections": ("connections", _positive_int),
        "timeout": ("timeout", _timeout),
        "rate": ("rate", _rate),
        "verify": ("verify", _bool),
        "unsubscribe": ("unsubscribe", _unsubscribe),
        "allow_plaintext_auth": ("allow_plaintext_auth", _bool),
    }),
    "sms": (SmsSettings, {
        "transport": ("transport", _choice("outbox", "twilio")),
        "account_sid": ("account_sid", _pattern(_ACCOUNT_SID, "\"AC\" followed by 32 hex digits")),
        "from": ("sender", _pattern(_E164, "an E.164 number such as \"+15005550006\"")),
        "messaging_service_sid": ("messaging_service_sid",
                                  _pattern(_SERVICE_SID, "\"MG\" followed by 32 hex digits")),
        "rate": ("rate", _rate),
        "api_base_url": ("api_base_url", _url),
        "default_region": ("default_region", _region),
        "timeout": ("timeout", _timeout),
        "connections": ("connections", _positive_int),
    }),
    "schedule": (ScheduleSettings, {
        "misfire_grace": ("misfire_grace", _duration),
        "resume_interrupted": ("resume_interrupted", _bool),
    }),
    "delivery": (DeliverySettings, {
        "processes": ("processes", _positive_int),
        "batch_size": ("batch_size", _positive_int),
        "max_attempts": ("max_attempts", _positive_int),
        "retry_base": ("retry_base", _duration),
        "retry_max": ("retry_max", _duration),
        "failure_streak": ("failure_streak", _positive_int),
    }),
}


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """`--home`, else $MESSAGEHUB_HOME, else the current directory."""
    chosen = home or os.environ.get("MESSAGEHUB_HOME") or os.getcwd()
    return Path(chosen).expanduser().resolve()


def _section(path: Path, name: str, raw: Any) -> Any:
    cls, keys = _SCHEMA[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    values = {}
    for key, value in raw.items():
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise ConfigError(f"{path}: unknown key [{name}] {key} (known keys: {known})")
        attr, check = keys[key]
        try:
            values[attr] = check(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: [{name}] {key} {exc}") from None
    return cls(**values)


def _check_consistency(path: Path, settings: Settings) -> None:
    email, sms = settings.email, settings.sms
    if email.transport == "smtp" and not email.sender:
        raise ConfigError(f"{path}: [email] from is required when transport = \"smtp\"")
    if sms.transport == "twilio":
        if not sms.account_sid:
            raise ConfigError(f"{path}: [sms] account_sid is required when transport = \"twilio\"")
        if not (sms.sender or sms.messaging_service_sid):
            raise ConfigError(
                f"{path}: [sms] from or messaging_service_sid is required when transport = \"twilio\"")
    delivery = settings.delivery
    if delivery.retry_max < delivery.retry_base:
        raise ConfigError(f"{path}: [delivery] retry_max must not be less than retry_base")


def load_settings(home: str | os.PathLike | None = None, environ: dict | None = None) -> Settings:
    """Read and validate <home>/messagehub.toml; a bad key or value raises ConfigError naming it."""
    environ = os.environ if environ is None else environ
    root = resolve_home(home)
    path = root / CONFIG_NAME
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
    sections = {}
    for name, value in raw.items():
        if name not in _SCHEMA:
            raise ConfigError(f"{path}: unknown section [{name}] (known: {', '.join(_SCHEMA)})")
        sections[name] = _section(path, name, value)
    settings = Settings(home=root, **sections)
    _check_consistency(path, settings)
    secrets = {
        "email": EmailSettings(**{**settings.email.__dict__,
                                  "password": environ.get(SMTP_PASSWORD_ENV) or None}),
        "sms": SmsSettings(**{**settings.sms.__dict__,
                              "auth_token": environ.get(TWILIO_TOKEN_ENV) or None}),
    }
    return Settings(home=root, schedule=settings.schedule, delivery=settings.delivery, **secrets)

