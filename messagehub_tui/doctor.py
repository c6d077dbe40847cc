"""`doctor`: check configuration and connectivity without sending, and say how to fix each
problem."""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
import time
from dataclasses import dataclass

from peewee import DatabaseError

from messagehub_tui.bounces.doctor_check import mailbox_checks
from messagehub_tui.channels.smtp import CONNECT_ERRORS, client_for, connect_problem
from messagehub_tui.config import (
    SMTP_PASSWORD_ENV,
    TWILIO_TOKEN_ENV,
    EmailTransport,
    Security,
    Settings,
    SmsTransport,
)
from messagehub_tui.database import open_for_reading
from messagehub_tui.engines import POSTGRES_HINT
from messagehub_tui.errors import MessagehubError
from messagehub_tui.homefs import free_bytes
from messagehub_tui.models import Campaign, CampaignStatus, db
from messagehub_tui.schema import SCHEMA_VERSION
from messagehub_tui.web.doctor_check import web_checks
from messagehub_tui.workers.daemonlock import daemon_pid

PROBE_BYTES = 64 * 1024


@dataclass
class Check:
    """One check: what was checked, whether it passed, and what to do if not."""

    name: str
    ok: bool
    detail: str


def _database(settings: Settings) -> Check:
    """The database opens and answers, and on PostgreSQL which server and how quickly. Opened
    here, not by the command: a server that is down fails this check, and the checks that do
    not need the database still run."""
    url = settings.database.url
    try:
        open_for_reading(settings.db_location)
    except DatabaseError as exc:
        return _unreachable(url or str(settings.db_path), exc, url is not None)
    except MessagehubError as exc:  # a schema newer than this version, say
        return Check("database", False, " ".join(str(exc).split()))
    if url is None:
        return Check("database", True, f"{settings.db_path} (SQLite, schema {SCHEMA_VERSION})")
    try:
        started = time.monotonic()
        version = db.execute_sql("SHOW server_version").fetchone()[0]
        elapsed = (time.monotonic() - started) * 1000
        writable = db.execute_sql("SELECT pg_is_in_recovery()").fetchone()[0] is False
    except DatabaseError as exc:
        return _unreachable(url, exc, True)
    if not writable:
        return Check("database", False, f"{url}: PostgreSQL {version} is a read-only standby; "
                                        "point [database] url at the primary")
    return Check("database", True, f"{url}: PostgreSQL {version}, schema {SCHEMA_VERSION}, "
                                   f"round trip {elapsed:.1f} ms")


def _unreachable(where: str, exc: DatabaseError, postgres: bool) -> Check:
    """The database check failed with `exc`, in one line (libpq's messages take two)."""
    said = " ".join(str(exc).split())
    return Check("database", False, f"{where}: {said}" + (f"; {POSTGRES_HINT}" if postgres else ""))


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            break
        count /= 1024
    return f"{count:.0f} bytes" if unit == "bytes" else f"{count:.1f} {unit}"


def _outbox(settings: Settings) -> Check:
    folder = settings.outbox_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write a message's worth and sync it: on a full disk an empty file can still be created.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            what = "disk full" if exc.errno == errno.ENOSPC else "disk quota exceeded"
            return Check("outbox", False, f"{folder} cannot take a message: {what}; free some "
                                          "space on its disk or choose another --home")
        return Check("outbox", False, f"{folder} is not writable ({exc.strerror}); "
                                      "fix its permissions or choose another --home")
    room = free_bytes(folder)
    free = f" ({_size(room)} free)" if room is not None else ""
    return Check("outbox", True, f"{folder} is writable{free}")


async def _smtp(settings: Settings) -> list[Check]:
    email = settings.email
    where = f"{email.host}:{email.effective_port} ({email.security})"
    checks = []
    if email.username and not email.password:
        checks.append(Check("smtp auth", False, f"username is set but ${SMTP_PASSWORD_ENV} is "
                                                "empty; export it before starting"))
        return checks
    client = client_for(email)
    try:
        await client.connect()
    except CONNECT_ERRORS as exc:
        reason = connect_problem(exc, email, client.stage).reason
        checks.append(Check("smtp", False, reason if f"{email.host}:" in reason
                            else f"{where}: {reason}"))
    else:
        steps = ["connect", "EHLO"] + \
            (["STARTTLS"] if email.security == Security.STARTTLS else []) + \
            (["AUTH"] if email.username else [])
        offered = {name: "on" if name in client.extensions else "not offered"
                   for name in ("PIPELINING", "CHUNKING")}
        checks.append(Check("smtp", True, f"{where}: {', '.join(steps)} ok; pipelining "
                                          f"{offered['PIPELINING']}, chunking "
                                          f"{offered['CHUNKING']}"))
    finally:
        await client.close()
    return checks


async def _twilio(settings: Settings) -> list[Check]:
    sms = settings.sms
    if not sms.auth_token:
        return [Check("twilio", False, f"${TWILIO_TOKEN_ENV} is not set; export it before "
                                       "starting")]
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    from messagehub_tui.channels.twilio_sms import TimedHttpClient
    http = TimedHttpClient(timeout=sms.timeout)
    client = Client(sms.account_sid, sms.auth_token, http_client=http)
    if sms.api_base_url:
        client.api.base_url = sms.api_base_url
    try:
        account = await client.api.v2010.accounts(sms.account_sid).fetch_async()
    except TwilioRestException as exc:
        return [Check("twilio", False, f"Twilio error {exc.code or exc.status}: {exc.msg}; check "
                                       f"[sms] account_sid and ${TWILIO_TOKEN_ENV}")]
    except Exception as exc:
        return [Check("twilio", False, f"cannot reach Twilio: {type(exc).__name__} {exc}; check "
                                       "the network or [sms] api_base_url")]
    finally:
        await http.close()
    return [Check("twilio", True, f"credentials accepted (account status: {account.status})")]


def _daemon(settings: Settings) -> Check:
    """Who fires the schedules: "nothing went out" is most often no daemon. Never a failure:
    the app, while open, fires them too, and doctor cannot see an open app."""
    pid = daemon_pid(settings)
    if pid is not None:
        return Check("daemon", True, f"pid {pid} serves this home: it fires the schedules and "
                                     "watches the runners")
    start = f"start one with `messagehub-tui --home {settings.home} daemon` (in tmux or systemd)"
    if settings.database.url:
        return Check("daemon", True, "none on this host: another host's daemon may fire the "
                                     f"schedules; {start}")
    scheduled = Campaign.select().where(Campaign.status == CampaignStatus.SCHEDULED).count()
    if not scheduled:
        return Check("daemon", True, f"none runs for this home (nothing is scheduled); {start}")
    return Check("daemon", True, f"none runs for this home: {scheduled} scheduled campaign(s) go "
                                 f"out only while the app is open; {start}")


def run_checks(settings: Settings) -> list[Check]:
    """Every check that applies to this configuration."""
    found = "is valid" if settings.config_path.exists() else "absent: defaults"
    database = _database(settings)
    checks = [Check("config", True, f"{settings.config_path} {found}"), database,
              *([_daemon(settings)] if database.ok else []), _outbox(settings)]
    if settings.email.transport == EmailTransport.SMTP:
        checks += asyncio.run(_smtp(settings))
    else:
        checks.append(Check("email", True, "transport outbox: emails are written to files, "
                                           "nothing leaves the machine"))
    if settings.sms.transport == SmsTransport.TWILIO:
        checks += asyncio.run(_twilio(settings))
    else:
        checks.append(Check("sms", True, "transport outbox: SMS are written to files, nothing "
                                         "leaves the machine"))
    return checks + mailbox_checks(settings) + web_checks(settings)
