"""`doctor`'s web checks: does `[web] listen` answer (or could it be bound), and does
`public_url` reach the endpoint through the reverse proxy (a GET of /healthz)."""

from __future__ import annotations

import fcntl
import socket
import urllib.error
import urllib.request

from messagehub_tui.config import Settings
from messagehub_tui.web import HEALTH_TEXT
from messagehub_tui.web.serving import LOCK_NAME
from messagehub_tui.workers.daemonlock import daemon_pid

TIMEOUT = 10.0


def _get(url: str) -> tuple[bool, str]:
    """(answered as the endpoint does, what happened)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body = response.read(200).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return False, f"answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer ({reason})"
    if body != HEALTH_TEXT:
        return False, "answered, but not as messagehub-tui does"
    return True, "answers"


def _bindable(host: str, port: int) -> str | None:
    """None when the address can be listened on now, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _served_here(settings: Settings) -> bool:
    """Whether a process of this home serves [web] listen: it holds `<home>/web.lock` while it
    does. A file this process cannot read says nothing: taken as served here."""
    try:
        with (settings.home / LOCK_NAME).open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False  # no process of this home ever served
    except OSError:
        return True


def web_checks(settings: Settings) -> list:
    """The listener and the public URL, when [web] sets them; none otherwise."""
    from messagehub_tui.doctor import Check  # doctor imports this module: import Check late
    web = settings.web
    checks = []
    if web.listen is not None:
        host, port = web.listen
        where = web.listen_text
        warning = f"; {web.listen_warning}" if web.listen_warning else ""
        answered, what = _get(f"http://{where}/healthz")
        pid = daemon_pid(settings)
        if answered and not _served_here(settings):
            checks.append(Check("web listen", False, (
                f"{where} answers, but no process of this home serves it: another home's "
                "daemon or app listens there (its links and keys are not this home's); give "
                "each home its own [web] listen")))
        elif answered:
            by = f"the daemon (pid {pid})" if pid else "the app"
            checks.append(Check("web listen", True, f"{where} answers: served by {by}{warning}"))
        elif "not as messagehub-tui" in what or "HTTP" in what:
            checks.append(Check("web listen", False, f"{where} {what}: another program uses "
                                                     "that port; choose another [web] listen"))
        else:
            problem = _bindable(host, port)
            checks.append(Check("web listen", problem is None, (
                f"{where} is free: the daemon (or the app while no daemon runs) serves it{warning}"
                if problem is None else f"{where} cannot be listened on ({problem}); choose "
                                        "another [web] listen")))
    if web.public_url is not None:
        answered, what = _get(f"{web.public_url}/healthz")
        # compose adds List-Unsubscribe-Post only to an https link: say so, or a user on http
        # wonders why mail clients show no unsubscribe button
        plain = ("; but it is http://, so messages carry no List-Unsubscribe-Post: mail clients "
                 "offer one-click unsubscribe only over https (RFC 8058)"
                 if web.public_url.startswith("http://") else "")
        checks.append(Check("web public_url", answered, (
            f"{web.public_url}/healthz answers: links and callbacks reach the endpoint{plain}"
            if answered else f"{web.public_url}/healthz {what}: is the endpoint running and "
                             "does the reverse proxy pass public_url to [web] listen?")))
    return checks
