"""Templates to messages: sandboxed Jinja2, RFC 5322 email bytes built fast, SMS segment counting."""

from __future__ import annotations

import binascii
import math
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from messagehub_tui.errors import MessagehubError, TemplateProblem

BASE_VARIABLES = frozenset({"first_name", "last_name", "email", "phone"})
MAX_LINE = 998

_text_env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                                 autoescape=False)
_html_env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,
                                 autoescape=True)


# Variables that come from configuration rather than contacts: what to set to have them.
_HINTS = {"unsubscribe_url": "; it comes from [email] unsubscribe in messagehub.toml (email "
                             "campaigns only), e.g. unsubscribe = "
                             "\"https://example.com/unsubscribe?email={{ email|urlencode }}\""}


class RenderError(MessagehubError):
    """One recipient's message cannot be rendered (missing variable, header injection)."""


def _parse(source: str, field: str, env: SandboxedEnvironment) -> nodes.Template:
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{field}: line {exc.lineno}: {exc.message}") from None


def check_syntax(source: str, field: str) -> None:
    """Reject a text template that does not compile, naming `field` and the line."""
    _parse(source, field, _text_env)


def check_template(source: str, field: str, available: set[str] | frozenset[str],
                   html: bool = False) -> None:
    """Reject a template that does not compile or needs a variable outside `available`."""
    tree = _parse(source, field, _html_env if html else _text_env)
    missing = meta.find_undeclared_variables(tree) - set(available)
    if not missing:
        return
    first = min((node.lineno, node.name) for node in tree.find_all(nodes.Name)
                if node.name in missing)
    others = sorted(missing - {first[1]})
    also = f" (also: {', '.join(others)})" if others else ""
    raise TemplateProblem(f"{field}: line {first[0]}: no recipient can supply the variable "
                          f"'{first[1]}'{also}{_HINTS.get(first[1], '')}")


def _compile(source: str, field: str, html: bool = False):
    env = _html_env if html else _text_env
    _parse(source, field, env)
    return env.from_string(source)


def _render(template, variables: dict, field: str) -> str:
    try:
        return template.render(variables)
    except UndefinedError as exc:
        hint = next((text for name, text in _HINTS.items()
                     if exc.message == f"'{name}' is undefined"), "")
        raise RenderError(f"{field}: {exc.message}{hint}") from None
    except TemplateError as exc:
        raise RenderError(f"{field}: {exc}") from None


def _no_line_break(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise RenderError(f"header {name} contains a line break")
    return value


def encode_header(name: str, value: str) -> str:
    """A header value safe on the wire: RFC 2047 encoded words for non-ASCII, folded."""
    _no_line_break(name, value)
    if value.isascii() and len(value) + len(name) + 2 <= MAX_LINE:
        return value
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def encode_address(name: str, address: str, header: str) -> str:
    """A display name and address as one header value, the name encoded when it needs to be."""
    _no_line_break(header, name)
    _no_line_break(header, address)
    return formataddr((name, address), charset="utf-8")


def encode_body(text: str) -> tuple[str, bytes]:
    """A body part's transfer encoding and CRLF bytes: 7bit when plain ASCII, else quoted-printable."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if text.isascii() and max(map(len, text.split("\n"))) <= MAX_LINE:
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


@dataclass(frozen=True, slots=True)
class SmsInfo:
    """An SMS body's encoding, length in code units and segment count."""

    encoding: str
    units: int
    segments: int


_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_info(text: str) -> SmsInfo:
    """GSM-7 (160, or 153 per part) when every character allows it, else UCS-2 (70, or 67)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = len(text) + sum(1 for ch in text if ch in _GSM_EXTENDED)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsInfo(encoding, 0, 0)
    return SmsInfo(encoding, units, 1 if units <= single else math.ceil(units / part))


class Composer:
    """Compiled templates of one campaign; renders each recipient's message."""

    def __init__(self, channel: str, body: str, subject: str = "", html: str | None = None,
                 sender: str | None = None, unsubscribe: str | None = None):
        self.channel = channel
        self._body = _compile(body, "body")
        self._subject = _compile(subject, "subject") if channel == "email" else None
        self._html = _compile(html, "html", html=True) if html else None
        self._unsubscribe = [_compile(part.strip(), "unsubscribe")
                             for part in (unsubscribe or "").split(",") if part.strip()]
        self.sender = sender or ""
        if channel == "email":
            name, address = parseaddr(_no_line_break("From", self.sender))
            if "@" not in address:
                raise MessagehubError(f"sender {self.sender!r} is not an email address")
            self.envelope_from = address
            self._from_header = encode_address(name, address, "From")
            self._domain = address.rsplit("@", 1)[1]
            self._boundary = "=_" + secrets.token_hex(16)

    @staticmethod
    def available(unsubscribe: str | None) -> set[str]:
        """Variables every message can use besides the contacts' attributes."""
        return set(BASE_VARIABLES) | ({"unsubscribe_url"} if unsubscribe else set())

    def _with_unsubscribe(self, variables: dict, unsubscribe_vars: dict | None
                          ) -> tuple[dict, list[str]]:
        if not self._unsubscribe:
            return variables, []
        links = [_render(t, variables if unsubscribe_vars is None else unsubscribe_vars,
                         "unsubscribe") for t in self._unsubscribe]
        web = [link for link in links if link.startswith("http")]
        return {**variables, "unsubscribe_url": (web or links)[0]}, links

    def sms_text(self, variables: dict) -> str:
        """The SMS body for one recipient."""
        return _render(self._body, variables, "body")

    def email_bytes(self, variables: dict, recipient: str, message_id: str,
                    unsubscribe_vars: dict | None = None) -> bytes:
        """The complete RFC 5322 message for one recipient, CRLF line ends, ready for DATA;
        `unsubscribe_vars`, when given, fill the unsubscribe links instead of `variables`."""
        variables, links = self._with_unsubscribe(variables, unsubscribe_vars)
        subject = _render(self._subject, variables, "subject").strip()
        name = " ".join(p for p in (variables.get("first_name", ""), variables.get("last_name", ""))
                        if p)
        lines = [
            f"From: {self._from_header}",
            f"To: {encode_address(name, recipient, 'To')}",
            f"Subject: {encode_header('Subject', subject)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: <{message_id}@{self._domain}>",
            "MIME-Version: 1.0",
        ]
        if links:
            lines.append("List-Unsubscribe: " + ", ".join(
                f"<{_no_line_break('List-Unsubscribe', link)}>" for link in links))
            if any(link.startswith("https://") for link in links):
                lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        text_cte, text = encode_body(_render(self._body, variables, "body"))
        if self._html is None:
            lines += ['Content-Type: text/plain; charset="utf-8"',
                      f"Content-Transfer-Encoding: {text_cte}"]
            return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + text
        html_cte, html = encode_body(_render(self._html, variables, "html"))
        boundary = self._boundary
        while boundary.encode() in text or boundary.encode() in html:
            boundary = "=_" + secrets.token_hex(16)
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        part = (f"--{boundary}\r\nContent-Type: text/%s; charset=\"utf-8\"\r\n"
                f"Content-Transfer-Encoding: %s\r\n\r\n")
        return b"".join((
            head,
            (part % ("plain", text_cte)).encode("ascii"), text,
            b"\r\n", (part % ("html", html_cte)).encode("ascii"), html,
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        ))
