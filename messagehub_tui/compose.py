"""Templates to messages: sandboxed Jinja2, RFC 5322 email bytes built fast, SMS segments."""

from __future__ import annotations

import functools
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.charset import Charset
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateError, UndefinedError

from messagehub_tui.errors import MessagehubError, TemplateProblem
from messagehub_tui.fastrender import Fallback, FastTemplate, plan
from messagehub_tui.mime import MAX_LINE, encode_body, lines_fit
from messagehub_tui.render_limits import MAX_CHARS, MAX_SECONDS, RenderTimeout, bounded
from messagehub_tui.sandbox import BoundedEnvironment, TooBig

BASE_VARIABLES = frozenset({"first_name", "last_name", "email", "phone"})
# Twilio's limit on one text's body, in characters (longer ones fail with error 21617).
SMS_MAX_CHARS = 1600
HEADER_LINE = 78
_UTF8 = Charset("utf-8")
# email.utils' specials (not in its typed API): formataddr quotes a display name with one
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')

_text_env = BoundedEnvironment(autoescape=False)
_html_env = BoundedEnvironment(autoescape=True)


# Variables that come from configuration rather than contacts: what to set to have them.
_HINTS = {"unsubscribe_url": "; it comes from [email] unsubscribe in messagehub.toml (email "
                             "campaigns only), e.g. unsubscribe = "
                             "\"https://example.com/unsubscribe?email={{ email|urlencode }}\", "
                             "or from [web] public_url (one-click unsubscribe)"}


class RenderError(MessagehubError):
    """One recipient's message cannot be rendered (missing variable, header injection, a
    template that fails on this recipient's data or exceeds a limit)."""


class RenderTooSlow(RenderError):
    """Rendering one message ran past the time limit (the template, not the data, is to blame
    most of the time)."""


TOO_SLOW = (f"rendering took more than {MAX_SECONDS:g} s of CPU time; does a loop in the "
            "template run too long?")


def _parse(source: str, field: str, env: BoundedEnvironment) -> nodes.Template:
    try:
        return env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{field}: line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise TemplateProblem(f"{field}: the template nests too deeply") from None


def check_syntax(source: str, field: str) -> None:
    """Reject a text template that does not compile, naming `field` and the line."""
    _parse(source, field, _text_env)


def check_template(source: str, field: str, available: set[str] | frozenset[str],
                   html: bool = False, sms: bool = False) -> None:
    """Reject a template that does not compile or needs a variable outside `available` (or, as
    an `sms` body, whose own text is already longer than a text can be)."""
    compiled = _compile(source, field, html)
    tree = compiled.tree
    _check_fixed_text(tree, field, SMS_MAX_CHARS if sms else MAX_CHARS,
                      "Twilio takes in one text (error 21617)" if sms else "for one message")
    # A plan's variables are all its template reads; Jinja's own answer generates the
    # template's code to find them (most of a launch's validation).
    needed = compiled.fast.names if compiled.fast is not None else \
        meta.find_undeclared_variables(tree)
    missing = needed - set(available)
    if not missing:
        return
    first = min((node.lineno, node.name) for node in tree.find_all(nodes.Name)
                if node.name in missing)
    others = sorted(missing - {first[1]})
    also = f" (also: {', '.join(others)})" if others else ""
    raise TemplateProblem(f"{field}: line {first[0]}: no recipient can supply the variable "
                          f"'{first[1]}'{also}{_HINTS.get(first[1], '')}")


def _check_fixed_text(tree: nodes.Template, field: str, limit: int, of_what: str) -> None:
    """Reject a template whose own text, written out for every recipient, is already over
    `limit`: each message would fail at send time, so say so at create instead."""
    fixed = sum(len(data.data) for output in tree.body if isinstance(output, nodes.Output)
                for data in output.nodes if isinstance(data, nodes.TemplateData))
    if fixed > limit:
        raise TemplateProblem(f"{field}: its text is {fixed:,} characters, over the limit of "
                              f"{limit:,} {of_what}")


class _Compiled:
    """A template compiled once per campaign: the fast plan when there is one, and Jinja's.

    Jinja's is compiled when first needed when there is a fast plan (a value the plan cannot
    take: rare): generating and compiling its Python code was a third of a runner's start
    before its first message, for templates the plan renders alone."""

    __slots__ = ("fast", "tree", "_env", "_jinja")

    def __init__(self, tree: nodes.Template, env: BoundedEnvironment,
                 fast: FastTemplate | None) -> None:
        self.fast = fast
        self.tree, self._env = tree, env
        self._jinja: Template | None = None

    def jinja(self) -> Template:
        """Jinja's template, compiled the first time it is asked for."""
        if self._jinja is None:
            self._jinja = self._env.from_string(self.tree)
        return self._jinja


def _compile(source: str, field: str, html: bool = False) -> _Compiled:
    """The template of `field`, parsed once; Jinja's code is generated now only without a fast
    plan: a plan's text and variables always compile (fastrender.MAX_FILTERS keeps its filter
    chains inside Python's nesting limit), so a launch's validation need not build it either."""
    env = _html_env if html else _text_env
    tree = _parse(source, field, env)
    compiled = _Compiled(tree, env, plan(tree, env.filters, html))
    if compiled.fast is None:
        try:
            compiled.jinja()
        except (RecursionError, SyntaxError, MemoryError):
            # Python's own limits on the generated code, e.g. more than 20 nested blocks
            raise TemplateProblem(f"{field}: the template nests too deeply") from None
    return compiled


def _output(template: Template, variables: dict) -> str:
    """Template.render, but stopping once the output passes MAX_CHARS. Chunks are counted 16
    at a time: a Python step per chunk made a render 1.6 times slower."""
    chunks = template.root_render_func(template.new_context(variables))
    parts, size = [], 0
    while batch := list(islice(chunks, 16)):
        size += sum(map(len, batch))
        if size > MAX_CHARS:
            raise TooBig(f"the output is larger than the limit of {MAX_CHARS:,} characters")
        parts += batch
    return "".join(parts)


def _render(template: _Compiled, variables: dict, field: str) -> str:
    """One template for one recipient; whatever goes wrong is this recipient's RenderError."""
    if template.fast is not None:
        try:
            text = template.fast.render(variables)
            if len(text) <= MAX_CHARS:
                return text
        except Fallback:
            pass  # Jinja renders it, or says exactly what is wrong
    try:
        return _output(template.jinja(), variables)
    except UndefinedError as exc:
        hint = next((text for name, text in _HINTS.items()
                     if exc.message == f"'{name}' is undefined"), "")
        raise RenderError(f"{field}: {exc.message}{hint}") from None
    except (TemplateError, TooBig) as exc:
        raise RenderError(f"{field}: {exc}") from None
    except RenderTimeout:
        raise RenderTooSlow(f"{field}: {TOO_SLOW}") from None
    except RecursionError:
        raise RenderError(f"{field}: the template recurses too deeply") from None
    except MemoryError:
        raise RenderError(f"{field}: rendering needs more memory than there is") from None
    except Exception as exc:  # the data made the template fail: 1 // 0, int('x'), ...
        raise RenderError(f"{field}: {exc} ({type(exc).__name__})") from None


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _limited(method: _Method) -> _Method:
    """Render a whole message under the time limit (a tick may land outside `_render`), when
    one of its templates is Jinja's: one the fast path takes has no loop and cannot run long
    (even when a render of it falls back to Jinja), so it needs no timer (two system calls)."""
    @functools.wraps(method)
    def wrapper(self: Composer, *args: Any, **kwargs: Any) -> Any:
        if not self._bounded:
            return method(self, *args, **kwargs)
        try:
            with bounded():
                return method(self, *args, **kwargs)
        except RenderTimeout:
            raise RenderTooSlow(TOO_SLOW) from None
    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def _no_line_break(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise RenderError(f"header {name} contains a line break")
    return value


def encode_header(name: str, value: str) -> str:
    """A header value safe on the wire: RFC 2047 encoded words for non-ASCII, folded."""
    _no_line_break(name, value)
    if value.isascii():
        if len(value) + len(name) + 2 <= MAX_LINE:
            return value
    else:
        # Header's own output when one encoded word fits on the first line, without its
        # character-by-character line splitting (40 % of a message's composing time)
        word = _UTF8.header_encode(value)
        if len(name) + 2 + len(word) <= HEADER_LINE:
            return word
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def encode_address(name: str, address: str, header: str) -> str:
    """A display name and address as one header value, the name encoded when it needs to be."""
    _no_line_break(header, name)
    _no_line_break(header, address)
    if not address.isascii():
        # Valid on import, but a header needs SMTPUTF8 for it, which no part of the send path
        # speaks: this recipient fails alone instead of formataddr crashing the runner.
        raise RenderError(f"{header} address {address!r} has non-ASCII characters "
                          "(an internationalised address), which cannot be sent")
    if name.isascii() and not _SPECIALS.search(name):
        # formataddr's own output for a name it would not quote, without its escaping pass
        return f"{name} <{address}>" if name else address
    return formataddr((name, address), charset="utf-8")


@functools.lru_cache(maxsize=8)
def _part_head(boundary: str, subtype: str, cte: str) -> bytes:
    """A body part's boundary line and headers (the same for every message of a campaign)."""
    return (f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode("ascii")


@functools.lru_cache(maxsize=2)
def _date(second: int) -> str:
    """The Date header of this second (formatdate is a tenth of a message's composing time)."""
    return formatdate(second, usegmt=True)


def _body_part(template: _Compiled, variables: dict, field: str) -> tuple[str, bytes, bool]:
    """encode_body of the rendered template, and whether a line of it may begin with a dot.

    A fast template whose values hold no line break is rendered with CRLF line ends and known
    to have no such line (the common case): its output is sent as it is, with no pass over it
    to convert line ends or to double leading dots (together a third of composing a message).
    Anything else takes the general way, whose output is the same.
    """
    if template.fast is not None:
        try:
            wire, length, dotted, longest = template.fast.render_wire(variables)
        except Fallback:
            pass
        else:
            if not wire.endswith("\n"):
                wire += "\r\n"
            # a line of `wire` has its CR in it: one character longer than encode_body's count
            if length <= MAX_CHARS and wire.isascii() and \
                    (longest <= MAX_LINE or lines_fit(wire, MAX_LINE + 1)):
                return "7bit", wire.encode("ascii"), dotted
    cte, data = encode_body(_render(template, variables, field))
    return cte, data, True


class Email(NamedTuple):  # one a message: a named tuple is the cheapest immutable record
    """A composed message: its bytes, and whether a line of them may begin with a dot (which
    SMTP's DATA doubles); False when none does."""

    data: bytes
    dotted: bool


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


def mailto_with_token(link: str, token: str) -> str:
    """A mailto: link whose subject names the delivery: `?subject=unsubscribe%20TOKEN`, or the
    token appended to a subject the link already sets. The bounce poller recognises the mail a
    recipient's client sends to it by that token (bounces/parse.py)."""
    base, _, query = link.partition("?")
    params = query.split("&") if query else []
    for index, param in enumerate(params):
        if param.lower().startswith("subject="):
            params[index] = f"{param}%20{token}"
            break
    else:
        params.insert(0, f"subject=unsubscribe%20{token}")
    return f"{base}?{'&'.join(params)}"


class Composer:
    """Compiled templates of one campaign; renders each recipient's message."""

    def __init__(self, channel: str, body: str, subject: str = "", html: str | None = None,
                 sender: str | None = None, unsubscribe: str | None = None,
                 id_token: str = "", one_click: Callable[[int | None], str] | None = None,
                 mailto_token: Callable[[int], str] | None = None):
        self.channel = channel
        self._id_suffix = f".{id_token}" if id_token else ""
        self._body = _compile(body, "body")
        self._subject = _compile(subject, "subject") if channel == "email" else None
        self._html = _compile(html, "html", html=True) if html else None
        # With one-click unsubscribe ([web] public_url), its link takes the place of any http(s)
        # link of [email] unsubscribe (one List-Unsubscribe-Post target); a mailto: stays.
        self._one_click = one_click
        self._unsubscribe = [_compile(part.strip(), "unsubscribe")
                             for part in (unsubscribe or "").split(",") if part.strip()
                             and (one_click is None or part.strip().startswith("mailto:"))]
        self._mailto_token = mailto_token
        self._bounded = any(template.fast is None for template in (
            self._body, self._subject, self._html, *self._unsubscribe) if template is not None)
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
    def available(unsubscribe: str | None, one_click: bool = False) -> set[str]:
        """Variables every message can use besides the contacts' attributes."""
        return set(BASE_VARIABLES) | ({"unsubscribe_url"} if unsubscribe or one_click else set())

    def _with_unsubscribe(self, variables: dict, unsubscribe_vars: dict | None,
                          delivery_id: int | None) -> tuple[dict, list[str]]:
        if not self._unsubscribe and self._one_click is None:
            return variables, []
        links = [_render(t, variables if unsubscribe_vars is None else unsubscribe_vars,
                         "unsubscribe") for t in self._unsubscribe]
        if self._mailto_token is not None and delivery_id is not None:
            # asked only for a mailto: link (a key file is made the first time)
            links = [mailto_with_token(link, self._mailto_token(delivery_id))
                     if link.startswith("mailto:") else link for link in links]
        if self._one_click is not None:
            links.insert(0, self._one_click(delivery_id))
        if not links:
            return variables, []
        web = [link for link in links if link.startswith("http")]
        return {**variables, "unsubscribe_url": (web or links)[0]}, links

    @_limited
    def sms_text(self, variables: dict) -> str:
        """The SMS body for one recipient."""
        return _render(self._body, variables, "body")

    def email_bytes(self, variables: dict, recipient: str, message_id: str,
                    unsubscribe_vars: dict | None = None, delivery_id: int | None = None
                    ) -> bytes:
        """The bytes of `email`'s message."""
        return self.email(variables, recipient, message_id, unsubscribe_vars, delivery_id).data

    @_limited
    def email(self, variables: dict, recipient: str, message_id: str,
              unsubscribe_vars: dict | None = None, delivery_id: int | None = None) -> Email:
        """The complete RFC 5322 message for one recipient, CRLF line ends, ready for DATA;
        its Message-ID is `message_id` (stable for one attempt) plus the composer's id_token;
        `unsubscribe_vars`, when given, fill the unsubscribe links instead of `variables`; the
        one-click link names `delivery_id` (a placeholder that unsubscribes nobody without), and
        so does the subject of a mailto: link (no token without)."""
        if self._subject is None:
            raise MessagehubError("an SMS campaign has no email to compose")
        variables, links = self._with_unsubscribe(variables, unsubscribe_vars, delivery_id)
        subject = _render(self._subject, variables, "subject").strip()
        first, last = variables.get("first_name", ""), variables.get("last_name", "")
        name = f"{first} {last}" if first and last else first or last
        lines = [
            f"From: {self._from_header}",
            f"To: {encode_address(name, recipient, 'To')}",
            f"Subject: {encode_header('Subject', subject)}",
            f"Date: {_date(int(time.time()))}",
            f"Message-ID: <{message_id}{self._id_suffix}@{self._domain}>",
            "MIME-Version: 1.0",
        ]
        if links:
            lines.append("List-Unsubscribe: " + ", ".join(
                f"<{_no_line_break('List-Unsubscribe', link)}>" for link in links))
            if any(link.startswith("https://") for link in links):
                lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        # no header line begins with a dot: only a body's line can
        text_cte, text, dotted = _body_part(self._body, variables, "body")
        if self._html is None:
            lines += ['Content-Type: text/plain; charset="utf-8"',
                      f"Content-Transfer-Encoding: {text_cte}"]
            return Email(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + text, dotted)
        html_cte, html, html_dotted = _body_part(self._html, variables, "html")
        boundary = self._boundary
        while boundary.encode() in text or boundary.encode() in html:
            boundary = "=_" + secrets.token_hex(16)
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        return Email(b"".join((
            head, _part_head(boundary, "plain", text_cte), text,
            b"\r\n", _part_head(boundary, "html", html_cte), html,
            f"\r\n--{boundary}--\r\n".encode("ascii"),
        )), dotted or html_dotted)
