"""Reading a posted form: a body aiohttp cannot parse is the sender's mistake (400), not ours.

aiohttp's `request.post()` raises ValueError for a multipart body without a usable boundary,
UnicodeDecodeError for bytes that are not in the form's charset, and LookupError for a charset
Python does not know; unhandled, each became a 500 and a traceback on the endpoint's stderr.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy


class BadForm(ValueError):
    """The body is no form this endpoint can read; its text is the one line answered."""


async def read_form(request: web.Request) -> MultiDictProxy:
    """The posted form fields, or BadForm saying why the body is unreadable."""
    try:
        return await request.post()
    except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
        kind = request.headers.get("Content-Type", "no Content-Type")
        raise BadForm(f"unreadable form body ({kind}): {type(exc).__name__}: {exc}") from None
