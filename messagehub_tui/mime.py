"""MIME body parts on the wire: line ends, transfer encoding and line length (RFC 5322, 2045)."""

from __future__ import annotations

import binascii

MAX_LINE = 998  # characters a line may have, its CRLF aside (RFC 5322 2.1.1)


def lines_fit(text: str, limit: int = MAX_LINE) -> bool:
    """No line of `text` is longer than `limit`. A longer line holds a whole aligned block of
    limit // 2 characters without a newline, so a newline found in every such block (a
    search in C, no copy) proves it; a block without one is looked at line by line."""
    block = limit // 2
    for start in range(0, len(text) - block + 1, block):
        if text.find("\n", start, start + block) < 0:
            return max(map(len, text.split("\n"))) <= limit
    return True


def encode_body(text: str) -> tuple[str, bytes]:
    """A body part's transfer encoding and CRLF bytes: 7bit when ASCII, else quoted-printable."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and lines_fit(text):
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")
