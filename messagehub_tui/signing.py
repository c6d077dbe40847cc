"""This home's signing key and the HMAC signatures made with it, one purpose string per use.

The key comes from $MESSAGEHUB_SECRET_KEY, else from `<home>/secret.key` (random, made once, mode
0600); it is never logged and never stored in the database. Every signature names its purpose,
so a token made for one use (a VERP return path) cannot be replayed for another (an unsubscribe
link).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from pathlib import Path

from messagehub_tui.config import Settings
from messagehub_tui.errors import ConfigError

KEY_ENV = "MESSAGEHUB_SECRET_KEY"
KEY_FILE = "secret.key"
_keys: dict[Path, bytes] = {}


class Purpose(StrEnum):
    """What a signature is for."""

    VERP = "verp"
    UNSUBSCRIBE = "unsubscribe"


def secret_key(home: Path) -> bytes:
    """The key that signs this home's tokens."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode()
    if home not in _keys:
        _keys[home] = _key_file(home / KEY_FILE)
    return _keys[home]


def _key_file(path: Path) -> bytes:
    """Read the key file, or make it: written in full under a private name first, then linked into
    place, so a process racing this one (the runners of a campaign start together) either makes
    the file or reads a complete one, never an empty one."""
    if not path.exists():
        key = secrets.token_hex(32).encode()
        fd, draft = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(draft, path)  # fails if another process linked its key first: read that one
            return key
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} is too short to be a key; delete it to make a new one")
    return key


def _message(purpose: Purpose, delivery_id: int) -> bytes:
    # VERP keeps the form it had before purposes existed, so return paths already out in the
    # world still verify; every other purpose is prefixed, and no prefixed form equals it.
    if purpose == Purpose.VERP:
        return f"delivery:{delivery_id}".encode()
    return f"{purpose.value}:delivery:{delivery_id}".encode()


def signature(key: bytes, purpose: Purpose, delivery_id: int) -> bytes:
    """HMAC-SHA256 of a delivery id for one purpose."""
    return hmac.new(key, _message(purpose, delivery_id), hashlib.sha256).digest()


def same(first: str | bytes, second: str | bytes) -> bool:
    """Constant-time comparison, for signatures and bearer tokens."""
    if isinstance(first, str):
        first = first.encode()
    if isinstance(second, str):
        second = second.encode()
    return hmac.compare_digest(first, second)


def read_signed_id(shape: re.Pattern[str], token: str,
                   mac: Callable[[int], str]) -> int | None:
    """The delivery id of a `<id>.<mac>` token (`shape` captures both), or None when the token
    does not fit the shape or its mac is not `mac(id)`: one reader for every token kind."""
    match = shape.match(token)
    if not match:
        return None
    delivery_id = int(match.group(1))
    return delivery_id if same(match.group(2), mac(delivery_id)) else None


# An unsubscribe token: `<delivery id>.<22 URL-safe base64 characters: 128 bits of the HMAC>`.
_UNSUBSCRIBE = re.compile(r"^([0-9]{1,18})\.([A-Za-z0-9_-]{22})$")


def _unsubscribe_mac(key: bytes, delivery_id: int) -> str:
    digest = signature(key, Purpose.UNSUBSCRIBE, delivery_id)[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def unsubscribe_token(key: bytes, delivery_id: int) -> str:
    """A URL-safe, unforgeable reference to a delivery (no address in it)."""
    return f"{delivery_id}.{_unsubscribe_mac(key, delivery_id)}"


def read_unsubscribe_token(key: bytes, token: str) -> int | None:
    """The delivery id an unsubscribe token names, or None when malformed or forged."""
    return read_signed_id(_UNSUBSCRIBE, token, partial(_unsubscribe_mac, key))


# What a message shows where no delivery exists yet (preview, test send, dry run): a link that
# is refused (400) and so can unsubscribe nobody.
PLACEHOLDER_TOKEN = "preview"


def delivery_unsubscribe_token(settings: Settings, delivery_id: int) -> str:
    """A delivery's unsubscribe token: its one-click link and its mailto: subject carry it."""
    return unsubscribe_token(secret_key(settings.home), delivery_id)


def unsubscribe_link(settings: Settings, delivery_id: int | None) -> str:
    """`{public_url}/u/{token}`, the one-click unsubscribe link of a delivery."""
    # the key is read (or made) only when a real link is needed: a preview writes nothing
    token = (PLACEHOLDER_TOKEN if delivery_id is None
             else delivery_unsubscribe_token(settings, delivery_id))
    return f"{settings.web.public_url}/u/{token}"
