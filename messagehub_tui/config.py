"""Where things live, the settings from <home>/messagehub.toml, secrets from the environment."""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from messagehub_tui.config_checks import (
    ACCOUNT_SID,
    E164,
    MAX_ATTEMPTS,
    MAX_BATCH,
    MAX_CONNECTIONS,
    MAX_STREAK,
    SERVICE_SID,
    auto_processes,
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

CONFIG_NAME = "messagehub.toml"
DB_NAME = "messagehub.db"
SMTP_PASSWORD_ENV = "MESSAGEHUB_SMTP_PASSWORD"
TWILIO_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
# The secret of a Twilio SharedKey, when a Webhook Rule signs our webhooks with it
TWILIO_WEBHOOK_KEY_ENV = "TWILIO_WEBHOOK_SHARED_KEY"
IMAP_PASSWORD_ENV = "MESSAGEHUB_IMAP_PASSWORD"
WEBHOOK_TOKEN_ENV = "MESSAGEHUB_WEBHOOK_TOKEN"
HOST_ENV = "MESSAGEHUB_HOST_ID"
HOME_ENV = "MESSAGEHUB_HOME"
HOST_ID_MAX = 255
# Overrides [database] url: one home's configuration shared by hosts, or the tests' engine.
DATABASE_URL_ENV = "MESSAGEHUB_DATABASE_URL"


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
    webhook_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ScheduleSettings:
    """The [schedule] section: how late a scheduled send may still go out, and how the daemon
    restarts campaigns whose runners died."""

    misfire_grace: float = 900.0
    resume_interrupted: bool = True
    # A campaign whose runners die is restarted after 5 s, then after 20 s; the next death in a
    # row pauses it with the reason instead (a runner that crashes at once would otherwise be
    # restarted every sync, for ever). The last delay is also how soon a daemon joins again a
    # campaign its runners left (scheduler._join).
    restart_delays: tuple[float, ...] = (5.0, 20.0)


@dataclass(frozen=True)
class DeliverySettings:
    """The [delivery] section: runner processes, batches and retries."""

    processes: int = field(default_factory=auto_processes)  # "auto", resolved when read
    batch_size: int = 200
    max_attempts: int = 5
    retry_base: float = 30.0
    retry_max: float = 3600.0
    failure_streak: int = 50
    # Pause a campaign whose hard-bounce or complaint rate passes these, once it sent
    # rates_after messages (feedback.over_limit; Gmail's complaint line is 0.3 %).
    max_bounce_rate: float = 0.05
    max_complaint_rate: float = 0.003
    rates_after: int = 200


@dataclass(frozen=True)
class WebSettings:
    """The [web] section: where the feedback endpoint listens (off when absent) and the URL the
    outside world reaches it by, through the user's reverse proxy (links and signatures use it)."""

    listen: tuple[str, int] | None = None
    public_url: str | None = None
    webhook_token: str | None = field(default=None, repr=False)

    @property
    def listen_text(self) -> str:
        if self.listen is None:
            return ""
        host, port_number = self.listen
        return f"[{host}]:{port_number}" if ":" in host else f"{host}:{port_number}"

    @property
    def listen_warning(self) -> str | None:
        """Why a `listen` off loopback deserves a word: the endpoint is then reachable from other
        hosts directly, past the reverse proxy's TLS (it is accepted: a proxy in another container
        may need it)."""
        if self.listen is None or _loopback(self.listen[0]):
            return None
        return (f"warning: [web] listen = \"{self.listen_text}\" is reachable from other hosts, "
                "not only through your reverse proxy (and without its TLS); unless that is what "
                "you want, listen on 127.0.0.1 and let the proxy forward to it")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: whatever it resolves to may be reached from elsewhere
        return False


@dataclass(frozen=True)
class BounceSettings:
    """The [bounces] section: the VERP return path and the mailbox DSNs and complaints reach."""

    return_path: str | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_user: str | None = None
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "messagehub-processed"
    security: str = "tls"
    ca_file: str | None = None  # PEM CA(s) trusted for the mailbox instead of the system's
    poll_every: float = 60.0
    soft_limit: int = 3
    soft_window: float = 30 * 86400.0
    password: str | None = field(default=None, repr=False)

    @property
    def reads_mailbox(self) -> bool:
        return self.imap_host is not None

    @property
    def effective_port(self) -> int:
        """The configured port, else the usual one for the security mode."""
        return self.imap_port or {"tls": 993, "starttls": 143, "none": 143}[self.security]


@dataclass(frozen=True)
class DatabaseSettings:
    """The [database] section: a PostgreSQL server's URL; none means SQLite in the home."""

    url: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about one home."""

    home: Path
    email: EmailSettings = EmailSettings()
    sms: SmsSettings = SmsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    delivery: DeliverySettings = DeliverySettings()
    bounces: BounceSettings = BounceSettings()
    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    # the host its runners record: a supervisor judges by pid only the runners of its own host
    host: str = field(default_factory=lambda: host_id(os.environ))

    @property
    def db_path(self) -> Path:
        """The SQLite database file (used only when no [database] url is set)."""
        return self.home / DB_NAME

    @property
    def db_location(self) -> Path | str:
        """What models.open_db opens: the PostgreSQL URL, else the SQLite file in the home."""
        return self.database.url or self.db_path

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_NAME


_SCHEMA: dict[str, tuple[type, dict[str, tuple[str, Callable[[Any], Any]]]]] = {
    "email": (EmailSettings, {
        "transport": ("transport", choice("outbox", "smtp")),
        "host": ("host", text),
        "port": ("port", port),
        "security": ("security", choice("starttls", "tls", "none")),
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
        "transport": ("transport", choice("outbox", "twilio")),
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
        "security": ("security", choice("tls", "starttls", "none")),
        "ca_file": ("ca_file", pem_file),
        "poll_every": ("poll_every", timeout),
        "soft_limit": ("soft_limit", whole(MAX_ATTEMPTS)),
        "soft_window": ("soft_window", duration),
    }),
    "database": (DatabaseSettings, {
        "url": ("url", database_url),
    }),
}


class HomeOrigin(Enum):
    """Where the home's path came from, so a message about it names what to fix."""

    OPTION = "--home"
    ENVIRONMENT = "$MESSAGEHUB_HOME"
    CURRENT = "the current folder"


def home_origin(home: str | os.PathLike[str] | None = None) -> HomeOrigin:
    """Which of `--home`, $MESSAGEHUB_HOME and the current directory `resolve_home` takes."""
    if home:
        return HomeOrigin.OPTION
    return HomeOrigin.ENVIRONMENT if os.environ.get(HOME_ENV) else HomeOrigin.CURRENT


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """`--home`, else $MESSAGEHUB_HOME, else the current directory."""
    return Path(home or os.environ.get(HOME_ENV) or os.getcwd()).expanduser().resolve()


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
    if sms.sender and sms.messaging_service_sid:
        # Twilio takes either; which one a campaign sent from would otherwise be unsaid.
        raise ConfigError(f"{path}: [sms] from and messaging_service_sid are both set: keep "
                          "one (from: that number sends; messaging_service_sid: the service "
                          "picks a number from its pool)")
    if sms.transport == "twilio":
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


def host_id(environ: Mapping[str, str]) -> str:
    """$MESSAGEHUB_HOST_ID, else the host name. Hosts that share one database need distinct ids
    (containers and network namespaces on one machine often share a host name)."""
    chosen = environ.get(HOST_ENV, "").strip()
    if not chosen:
        return socket.gethostname()
    if len(chosen) > HOST_ID_MAX or not chosen.isprintable():
        raise ConfigError(f"{HOST_ENV}: a host id is printable text of at most {HOST_ID_MAX} "
                          f"characters, not {chosen[:40]!r}")
    return chosen


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

