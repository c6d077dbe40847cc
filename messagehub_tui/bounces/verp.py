"""Signed tokens naming a delivery: VERP (each message's envelope sender) and the mailto:
unsubscribe link (the subject a recipient's mail client sends back).

The key comes from $MESSAGEHUB_SECRET_KEY, else from `<home>/secret.key` (random, made once,
mode 0600). A token is `<delivery id>.<16 base32 characters of HMAC-SHA256>`, lower case because
some relays lower-case the local part of the address they bounce to. The HMAC covers the token's
purpose too, so a return-path token (which every relay on the way sees) never unsubscribes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from enum import StrEnum
from pathlib import Path

from messagehub_tui.config import Settings
from messagehub_tui.errors import ConfigError

KEY_ENV = "MESSAGEHUB_SECRET_KEY"
KEY_FILE = "secret.key"
_TOKEN = re.compile(r"^([0-9]{1,18})\.([a-z2-7]{16})$")
_keys: dict[Path, bytes] = {}


class Purpose(StrEnum):
    """What a token is for; part of what is signed."""

    RETURN_PATH = "delivery"
    UNSUBSCRIBE = "unsubscribe"


def secret_key(home: Path) -> bytes:
    """The key that signs this home's tokens; never logged, never stored in the database."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode()
    if home not in _keys:
        _keys[home] = _key_file(home / KEY_FILE)
    return _keys[home]


def _key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise ConfigError(
                f"{path} is too short to be a key; delete it to make a new one") from None
        return key
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as handle:  # made by this process: another may race us, O_EXCL wins
        handle.write(key + b"\n")
    return key


def _signature(key: bytes, delivery_id: int, purpose: Purpose) -> str:
    digest = hmac.new(key, f"{purpose.value}:{delivery_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def make_token(key: bytes, delivery_id: int, purpose: Purpose = Purpose.RETURN_PATH) -> str:
    return f"{delivery_id}.{_signature(key, delivery_id, purpose)}"


def read_token(key: bytes, token: str, purpose: Purpose = Purpose.RETURN_PATH) -> int | None:
    """The delivery id a token names, or None when it is malformed or its signature is wrong."""
    match = _TOKEN.match(token.lower())
    if not match:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _signature(key, delivery_id, purpose)):
        return None
    return delivery_id


def return_path(template: str, key: bytes, delivery_id: int) -> str:
    """The envelope sender for one delivery: the template with its token filled in."""
    return template.replace("{token}", make_token(key, delivery_id))


def envelope_sender(settings: Settings, delivery_id: int) -> str | None:
    """The VERP envelope sender of an email delivery, or None without [bounces] return_path
    (then the channel's own sender is used)."""
    template = settings.bounces.return_path
    return return_path(template, secret_key(settings.home), delivery_id) if template else None


def unsubscribe_token(settings: Settings, delivery_id: int) -> str:
    """The token a delivery's mailto: unsubscribe link carries in its subject."""
    return make_token(secret_key(settings.home), delivery_id, Purpose.UNSUBSCRIBE)


def token_in(template: str, address: str) -> str | None:
    """The token part of an address made from the template, or None if it is not one of ours."""
    before, _, after = template.partition("{token}")
    pattern = re.escape(before) + r"([^@\s]+?)" + re.escape(after)
    match = re.fullmatch(pattern, address.strip(), re.IGNORECASE)
    return match.group(1) if match else None
