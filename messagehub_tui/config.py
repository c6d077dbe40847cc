"""The settings of one home, by section (config_load.py reads them), where things live in it, and
the environment variables that name a home, a host and the secrets."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path

from messagehub_tui.config_checks import auto_processes
from messagehub_tui.errors import ConfigError, shown

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


class EmailTransport(StrEnum):
    """Where email goes: files in the outbox, or an SMTP server."""

    OUTBOX = "outbox"
    SMTP = "smtp"


class SmsTransport(StrEnum):
    """Where SMS go: files in the outbox, or Twilio."""

    OUTBOX = "outbox"
    TWILIO = "twilio"


class Security(StrEnum):
    """How a connection to a mail server (SMTP, IMAP) is protected."""

    TLS = "tls"            # TLS from the first byte (ports 465, 993)
    STARTTLS = "starttls"  # upgraded by STARTTLS before anything else is said (587, 143)
    NONE = "none"          # never encrypted


@dataclass(frozen=True)
class EmailSettings:
    """The [email] section: SMTP server, sender and sending pace."""

    transport: EmailTransport = EmailTransport.OUTBOX
    host: str = "localhost"
    port: int | None = None
    security: Security = Security.STARTTLS
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
        return {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 25}[self.security]


@dataclass(frozen=True)
class SmsSettings:
    """The [sms] section: Twilio account, sender and sending pace."""

    transport: SmsTransport = SmsTransport.OUTBOX
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
    security: Security = Security.TLS
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
        return self.imap_port or {Security.TLS: 993, Security.STARTTLS: 143,
                                  Security.NONE: 143}[self.security]


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
        """What database.open_db opens: the PostgreSQL URL, else the SQLite file in the home."""
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


def host_id(environ: Mapping[str, str]) -> str:
    """$MESSAGEHUB_HOST_ID, else the host name. Hosts that share one database need distinct ids
    (containers and network namespaces on one machine often share a host name)."""
    chosen = environ.get(HOST_ENV, "").strip()
    if not chosen:
        return socket.gethostname()
    if len(chosen) > HOST_ID_MAX or not chosen.isprintable():
        raise ConfigError(f"{HOST_ENV}: a host id is printable text of at most {HOST_ID_MAX} "
                          f"characters, not {shown(chosen)}")
    return chosen
