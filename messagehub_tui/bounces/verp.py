"""VERP: a short signed token naming a delivery, carried in each message's envelope sender.

The key and the signature are signing.py's (purpose "verp"). A token is `<delivery id>.<16 base32
characters of HMAC-SHA256>`, lower case because some relays lower-case the local part of the
address they bounce to.
"""

from __future__ import annotations

import base64
import re
from functools import partial

from messagehub_tui.config import Settings
from messagehub_tui.signing import KEY_ENV, Purpose, read_signed_id, secret_key, signature

__all__ = ["KEY_ENV", "envelope_sender", "make_token", "read_token", "return_path", "secret_key",
           "token_in"]

_TOKEN = re.compile(r"^([0-9]{1,18})\.([a-z2-7]{16})$")


def _signature(key: bytes, delivery_id: int) -> str:
    digest = signature(key, Purpose.VERP, delivery_id)
    return base64.b32encode(digest[:10]).decode().lower()


def make_token(key: bytes, delivery_id: int) -> str:
    return f"{delivery_id}.{_signature(key, delivery_id)}"


def read_token(key: bytes, token: str) -> int | None:
    """The delivery id a token names, or None when it is malformed or its signature is wrong."""
    return read_signed_id(_TOKEN, token.lower(), partial(_signature, key))


def return_path(template: str, key: bytes, delivery_id: int) -> str:
    """The envelope sender for one delivery: the template with its token filled in."""
    return template.replace("{token}", make_token(key, delivery_id))


def envelope_sender(settings: Settings, delivery_id: int) -> str | None:
    """The VERP envelope sender of an email delivery, or None without [bounces] return_path
    (then the channel's own sender is used)."""
    template = settings.bounces.return_path
    return return_path(template, secret_key(settings.home), delivery_id) if template else None


def token_in(template: str, address: str) -> str | None:
    """The token part of an address made from the template, or None if it is not one of ours."""
    before, _, after = template.partition("{token}")
    pattern = re.escape(before) + r"([^@\s]+?)" + re.escape(after)
    match = re.fullmatch(pattern, address.strip(), re.IGNORECASE)
    return match.group(1) if match else None
