"""Reading a home's settings: each [section]'s keys of <home>/messagehub.toml and the check of
each value (config_checks.py), the rules between keys, then secrets from the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from messagehub_tui.config import (
    CONFIG_NAME,
    DATABASE_URL_ENV,
    IMAP_PASSWORD_ENV,
    SMTP_PASSWORD_ENV,
    TWILIO_TOKEN_ENV,
    TWILIO_WEBHOOK_KEY_ENV,
    WEBHOOK_TOKEN_ENV,
    BounceSettings,
    DatabaseSettings,
    DeliverySettings,
    EmailSettings,
    EmailTransport,
    ScheduleSettings,
    Security,
    Settings,
    SmsSettings,
    SmsTransport,
    WebSettings,
    host_id,
    resolve_home,
)
from messagehub_tui.config_checks import (
    ACCOUNT_SID,
    E164,
    MAX_ATTEMPTS,
    MAX_BATCH,
    MAX_CONNECTIONS,
    MAX_STREAK,
    SERVICE_SID,
    base_url,
    bool_value,
    choice,
    database_url,
    duration,
    fraction,
    listen,
    pattern,
    pem_file,
    port,
    processes,
    rate,
    region,
    restart_delays,
    return_path,
    sender,
    text,
    timeout,
    unsubscribe,
    url,
    whole,
)
from messagehub_tui.errors import ConfigError

_SCHEMA: dict[str, tuple[type, dict[str, tuple[str, Callable[[Any], Any]]]]] = {
    "email": (EmailSettings, {
        "transport": ("transport", choice(EmailTransport)),
        "host": ("host", text),
        "port": ("port", port),
        "security": ("security", choice(Security)),
        "username": ("username", text),
        "from": ("sender", sender),
        "connections": ("connections", whole(MAX_CONNECTIONS)),
        "timeout": ("timeout", timeout),
        "rate": ("rate", rate),
        "verify": ("verify", bool_value),
        "unsubscribe": ("unsubscribe", unsubscribe),
        "allow_plaintext_auth": ("allow_plaintext_auth", bool_value),
    }),
    "sms": (SmsSettings, {
        "transport": ("transport", choice(SmsTransport)),
        "account_sid": ("account_sid", pattern(ACCOUNT_SID, "\"AC\" followed by 32 hex digits")),
        "from": ("sender", pattern(E164, "an E.164 number such as \"+15005550006\"")),
        "messaging_service_sid": ("messaging_service_sid",
                                  pattern(SERVICE_SID, "\"MG\" followed by 32 hex digits")),
        "rate": ("rate", rate),
        "api_base_url": ("api_base_url", url),
        "default_region": ("default_region", region),
        "timeout": ("timeout", timeout),
        "connections": ("connections", whole(MAX_CONNECTIONS)),
    }),
    "schedule": (ScheduleSettings, {
        "misfire_grace": ("misfire_grace", duration),
        "resume_interrupted": ("resume_interrupted", bool_value),
        "restart_delays": ("restart_delays", restart_delays),
    }),
    "delivery": (DeliverySettings, {
        "processes": ("processes", processes),
        "batch_size": ("batch_size", whole(MAX_BATCH)),
        "max_attempts": ("max_attempts", whole(MAX_ATTEMPTS)),
        "retry_base": ("retry_base", duration),
        "retry_max": ("retry_max", duration),
        "failure_streak": ("failure_streak", whole(MAX_STREAK)),
        "max_bounce_rate": ("max_bounce_rate", fraction),
        "max_complaint_rate": ("max_complaint_rate", fraction),
        "rates_after": ("rates_after", whole(MAX_STREAK)),
    }),
    "web": (WebSettings, {
        "listen": ("listen", listen),
        "public_url": ("public_url", base_url),
    }),
    "bounces": (BounceSettings, {
        "return_path": ("return_path", return_path),
        "imap_host": ("imap_host", text),
        "imap_port": ("imap_port", port),
        "imap_user": ("imap_user", text),
        "imap_folder": ("imap_folder", text),
        "imap_processed_folder": ("imap_processed_folder", text),
        "security": ("security", choice(Security)),
        "ca_file": ("ca_file", pem_file),
        "poll_every": ("poll_every", timeout),
        "soft_limit": ("soft_limit", whole(MAX_ATTEMPTS)),
        "soft_window": ("soft_window", duration),
    }),
    "database": (DatabaseSettings, {
        "url": ("url", database_url),
    }),
}



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
    if email.transport == EmailTransport.SMTP and not email.sender:
        raise ConfigError(f"{path}: [email] from is required when transport = \"smtp\"")
    if sms.sender and sms.messaging_service_sid:
        # Twilio takes either; which one a campaign sent from would otherwise be unsaid.
        raise ConfigError(f"{path}: [sms] from and messaging_service_sid are both set: keep "
                          "one (from: that number sends; messaging_service_sid: the service "
                          "picks a number from its pool)")
    if sms.transport == SmsTransport.TWILIO:
        if not sms.account_sid:
            raise ConfigError(f"{path}: [sms] account_sid is required when transport = \"twilio\"")
        if not (sms.sender or sms.messaging_service_sid):
            raise ConfigError(
                f"{path}: [sms] from or messaging_service_sid is required when "
                "transport = \"twilio\"")
    bounces = settings.bounces
    if bounces.reads_mailbox and not bounces.imap_user:
        raise ConfigError(f"{path}: [bounces] imap_user is required when imap_host is set")
    if bounces.imap_folder == bounces.imap_processed_folder:
        raise ConfigError(f"{path}: [bounces] imap_processed_folder must differ from imap_folder")
    delivery = settings.delivery
    if delivery.retry_max < delivery.retry_base:
        raise ConfigError(f"{path}: [delivery] retry_max must not be less than retry_base")



def load_settings(home: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
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
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply; the configuration is a few flat "
                              "[sections] of keys") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    sections = {}
    for name, value in raw.items():
        if name not in _SCHEMA:
            raise ConfigError(f"{path}: unknown section [{name}] (known: {', '.join(_SCHEMA)})")
        sections[name] = _section(path, name, value)
    settings = Settings(home=root, **sections)
    _check_consistency(path, settings)
    database = settings.database
    if environ.get(DATABASE_URL_ENV):
        try:
            database = DatabaseSettings(url=database_url(environ[DATABASE_URL_ENV]))
        except ValueError as exc:
            raise ConfigError(f"{DATABASE_URL_ENV} {exc}") from None
    # Secrets come from the environment only, never from the file (see the module docstring).
    return replace(
        settings,
        email=replace(settings.email, password=environ.get(SMTP_PASSWORD_ENV) or None),
        sms=replace(settings.sms, auth_token=environ.get(TWILIO_TOKEN_ENV) or None,
                    webhook_key=environ.get(TWILIO_WEBHOOK_KEY_ENV) or None),
        bounces=replace(settings.bounces, password=environ.get(IMAP_PASSWORD_ENV) or None),
        web=replace(settings.web, webhook_token=environ.get(WEBHOOK_TOKEN_ENV) or None),
        database=database, host=host_id(environ))

