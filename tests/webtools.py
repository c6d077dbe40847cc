"""Helpers for the web endpoint tests: a home with [web] on a free port, the endpoint started in
this process, and plain HTTP requests to it (urllib, a real socket)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from messagehub_tui.web.serving import Endpoint
from tests.engine import poll
from tests.peers import free_port


def web_toml(port: int, public_url: str | None = None) -> str:
    url = public_url or f"http://127.0.0.1:{port}"
    return f'[web]\nlisten = "127.0.0.1:{port}"\npublic_url = "{url}"\n'


@dataclass
class Answer:
    status: int
    body: str
    headers: dict


def request(url: str, data: bytes | None = None, headers: dict | None = None,
            method: str | None = None) -> Answer:
    """One HTTP request; any status is an answer, not an exception."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return Answer(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(), dict(exc.headers))


def answers(url: str) -> bool:
    """Whether something answers 200 at url (a refused connection is a no)."""
    try:
        return request(url).status == 200
    except urllib.error.URLError:
        return False


ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def serve(settings) -> Endpoint:
    """The endpoint of these settings, started here; returns once it serves."""
    endpoint = Endpoint(settings).start()
    poll(endpoint.serving.is_set, 30, what="the endpoint serving")
    return endpoint


__all__ = ["FORM", "ONE_CLICK", "Answer", "answers", "free_port", "request", "serve", "web_toml"]
