"""The SMTP credential's wire forms, and scrubbing them out of anything a server says."""

from __future__ import annotations

import base64
import re

REDACTED = "[redacted]"
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{8,}")


def b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def credential_forms(username: str | None, password: str | None) -> tuple[str, ...]:
    """Every form in which the credential goes on the wire: AUTH PLAIN's token, the user and the
    password in base64 (AUTH LOGIN), and the raw password."""
    if not password:
        return ()
    user = username or ""
    return tuple(form for form in (b64(f"\0{user}\0{password}"), b64(user), b64(password),
                                   password) if form)


def scrub(text: str, forms: tuple[str, ...]) -> str:
    """`text` without any credential form, nor any base64 run of 8+ characters taken from one
    (a server that quotes a command may cut it short, and a prefix still leaks)."""
    if not forms:
        return text
    for form in forms:
        text = text.replace(form, REDACTED)
    encoded = forms[:-1]
    return _BASE64_RUN.sub(
        lambda run: REDACTED if any(run[0].rstrip("=") in form for form in encoded) else run[0],
        text)
