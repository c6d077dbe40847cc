"""The few HTML pages a recipient sees: small, no scripts, no outside resources."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em">
<h1 style="font-size: 1.4em">{title}</h1>
{body}
</body></html>
"""


def page(title: str, body_html: str) -> str:
    return _PAGE.format(title=escape(title), body=body_html)


def mask(address: str) -> str:
    """Enough of an address for its owner to recognise it, not enough to learn it:
    `a•••@example.com`, `+1•••••••0101`."""
    if "@" in address:
        local, domain = address.rsplit("@", 1)
        return f"{local[:1]}•••@{domain}"
    return f"{address[:2]}{'•' * max(len(address) - 6, 3)}{address[-4:]}"


def confirm(address: str) -> str:
    """The GET page: what would be unsubscribed, and the button that does it (a POST of the
    same body mail clients send for one-click, to this same URL)."""
    return page("Unsubscribe", (
        f"<p>Stop sending messages to <strong>{escape(mask(address))}</strong>?</p>\n"
        '<form method="post">\n'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
        '<button type="submit" style="font-size: 1.1em; padding: .5em 1.5em">Unsubscribe'
        "</button>\n</form>"))


def done(address: str) -> str:
    return page("Unsubscribed", f"<p><strong>{escape(mask(address))}</strong> will get no more "
                                "messages from us.</p>")


def refused(title: str, reason: str) -> str:
    return page(title, f"<p>{escape(reason)}</p>")
