"""A small asyncio SMTP client pipelining each message (RFC 2920, 3030) on a reused connection."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import NamedTuple, NoReturn

from messagehub_tui.channels.deadline import Deadline
from messagehub_tui.channels.smtp_secrets import b64, credential_forms, scrub
from messagehub_tui.config import Security


class SmtpReplyError(Exception):
    """The server answered a command with an error code (4xx or 5xx)."""

    def __init__(self, code: int, text: str, stage: str):
        super().__init__(f"{stage}: {code} {text}")
        self.code, self.text, self.stage = code, text, stage


class SmtpProtocolError(Exception):
    """A reply that does not fit the command (or is not SMTP): the connection is out of step."""


class SmtpSetupError(Exception):
    """The server cannot be used as configured (no STARTTLS, no AUTH, AUTH unencrypted); the
    message says which [email] setting to change."""


class SmtpOutOfStep(Exception):
    """The previous transaction left the connection unusable; nothing of this message was sent,
    so it is sent again on a new connection."""


class Reply(NamedTuple):
    """One SMTP reply: its code and its text."""

    code: int
    text: str


ENVELOPE_STAGES = ("MAIL FROM", "RCPT TO", "DATA")
ENVELOPE_EXPECTS = (250, 250, 354)
EXPECTED_CODES = list(ENVELOPE_EXPECTS)  # compared with a list of the replies' codes
CHUNKED_STAGES = ("MAIL FROM", "RCPT TO", "BDAT")


MAX_LINE = 1 << 20  # a longer reply line is not SMTP


def _refusal(code: int, text: str, stage: str) -> NoReturn:
    """Raise what a reply other than the expected one means: a refusal, or a protocol error."""
    if 400 <= code < 600:
        raise SmtpReplyError(code, text, stage)
    raise SmtpProtocolError(f"{stage}: unexpected reply {code} {text}")


def _out_of_order(replies: list[Reply]) -> bool:
    """Replies to a pipelined MAIL, RCPT, DATA that cannot have come in order (RFC 2920 keeps
    them in order): a 354 to MAIL or RCPT, or DATA answered 2xx after a refusal before it.
    smtp-sink -W gives these: it answers the commands after the one it holds back first (DATA's
    "503 need RCPT", then the RCPT's 250), which read in order would fail the recipient."""
    codes = [code for code, _ in replies]
    return 354 in codes[:2] or (len(codes) == 3 and 200 <= codes[2] < 300
                                and any(code >= 400 for code in codes[:2]))


def dot_stuff(data: bytes, dotted: bool = True) -> bytes:
    """The DATA payload: leading dots doubled (unless `dotted` is False: no line begins with
    one), CRLF at the end, then the terminating dot."""
    if dotted:
        if data.startswith(b"."):
            data = b"." + data
        data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _address(value: str) -> bytes:
    return value.encode("utf-8")


@dataclass(slots=True)
class _Announced:
    """An envelope written with the previous message's body (after an RSET), and the replies
    to the RSET, MAIL, RCPT and DATA, for the next send to judge."""

    message: tuple[str, str]  # its sender and recipient
    replies: list[Reply]
    after_refusal: bool  # that previous message was refused at its end of DATA


class SmtpClient:
    """One SMTP connection: connect, EHLO, STARTTLS or implicit TLS, AUTH, then many messages."""

    def __init__(self, host: str, port: int, security: Security = Security.NONE,
                 timeout: float = 30.0, username: str | None = None,
                 password: str | None = None, verify: bool = True,
                 local_hostname: str = "localhost", allow_plaintext_auth: bool = False):
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self.username, self._password, self.verify = username, password, verify
        self.local_hostname, self.allow_plaintext_auth = local_hostname, allow_plaintext_auth
        # every reply is scrubbed as it is read, so no error, event, log or terminal line can
        # carry the credential back, whatever the server quotes
        self._secrets = credential_forms(username, password)
        self.extensions: dict[str, str] = {}
        self.data_sent = False
        self.stage = "connect"  # what connect() was doing, to say where it failed or timed out
        self._in_sync = False  # no command is waiting for a reply and no transaction is open
        # False once the server answered a pipelined group out of order: from then on (across
        # reconnections) this lane sends one command at a time
        self.pipelining_trusted = True
        self._announced: _Announced | None = None
        self._reader: asyncio.StreamReader | None = None
        self._buffer = bytearray()  # received, not parsed yet
        self._writer: asyncio.StreamWriter | None = None
        self._deadline = Deadline(timeout)  # each message's exchanges

    @property
    def pipelining(self) -> bool:
        """The server offers PIPELINING and has kept its replies in order so far."""
        return "PIPELINING" in self.extensions and self.pipelining_trusted

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _stream(self) -> asyncio.StreamWriter:
        if self._writer is None:
            raise ConnectionResetError("the connection is closed")
        return self._writer

    async def _receive(self) -> None:
        """Whatever the server sent next, into the buffer: a pipelined group's replies usually
        arrive in one read, and are then parsed without waiting again."""
        reader = self._reader
        if reader is None or self._writer is None:
            raise ConnectionResetError("the connection is closed")
        if len(self._buffer) > MAX_LINE:
            raise SmtpProtocolError("not an SMTP reply: a line of more than 1 MB")
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self._buffer += chunk

    async def _reply_lines(self) -> tuple[int, str, list[str]]:
        """The next reply, its lines' texts joined, and each line's (five replies a message: this
        is kept to one search and one cut of the buffer per line)."""
        lines = []
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n")
            while end < 0:
                await self._receive()
                buffer = self._buffer
                end = buffer.find(b"\n")
            line = buffer[:end + 1]
            del buffer[:end + 1]
            text = line[4:].strip().decode("utf-8", "replace")
            lines.append(scrub(text, self._secrets) if self._secrets else text)
            if line[3:4] != b"-":
                try:
                    return int(line[:3]), " ".join(lines), lines
                except ValueError:
                    raise SmtpProtocolError(
                        f"not an SMTP reply: {scrub(repr(bytes(line[:60])), self._secrets)}"
                    ) from None

    async def _reply(self) -> Reply:
        code, text, _ = await self._reply_lines()
        return Reply(code, text)

    async def _command(self, line: str, stage: str, expect: int) -> str:
        """Send one command; a reply other than `expect` (any 2xx when expecting 235) raises."""
        self._stream().write(line.encode("utf-8") + b"\r\n")
        code, text = await self._reply()
        # RFC 4954 answers a successful AUTH with 235, but some servers send another 2xx (250,
        # say) for the same success: refusing those would fail a login that worked.
        if code != expect and not (expect == 235 and 200 <= code < 300):
            raise SmtpReplyError(code, text, stage)
        return text

    async def connect(self) -> None:
        """Open the connection and get it ready to send: one deadline for all of it."""
        self.data_sent = self._in_sync = False
        self._announced = None
        self._buffer = bytearray()
        async with asyncio.timeout(self.timeout):
            tls = self._tls_context() if self.security == Security.TLS else None
            self.stage = "connect and TLS handshake" if tls else "connect"
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, ssl=tls, server_hostname=self.host if tls else None)
            self.stage = "the greeting"
            code, text = await self._reply()
            if code != 220:
                raise SmtpReplyError(code, text, "greeting")
            self.stage = "EHLO"
            await self._hello()
            if self.security == Security.STARTTLS:
                if "STARTTLS" not in self.extensions:
                    raise SmtpSetupError(
                        "the server does not offer STARTTLS; set [email] security = \"tls\" if "
                        "it speaks TLS from the start (usually port 465), or \"none\" for a "
                        "server on a trusted network")
                self.stage = "STARTTLS"
                await self._command("STARTTLS", "STARTTLS", 220)
                if self._buffer:  # sent before TLS, to be read as if it came through it
                    raise SmtpProtocolError("the server sent more after its STARTTLS reply")
                self.stage = "the TLS handshake"
                await self._stream().start_tls(self._tls_context(), server_hostname=self.host)
                self.stage = "EHLO"
                await self._hello()
            if self.username:
                self.stage = "AUTH"
                await self._login()
        self._in_sync = True

    async def _hello(self) -> None:
        self._stream().write(f"EHLO {self.local_hostname}\r\n".encode("ascii"))
        code, text, lines = await self._reply_lines()
        if code != 250:
            raise SmtpReplyError(code, text, "EHLO")
        self.extensions = {}
        for item in lines[1:]:
            name, _, params = item.partition(" ")
            self.extensions[name.upper()] = params

    async def _login(self) -> None:
        """AUTH PLAIN or LOGIN, only when the server offers it and never in clear text unless
        the user opted in with security = "none" and allow_plaintext_auth = true."""
        if self.security == Security.NONE and not self.allow_plaintext_auth:
            raise SmtpSetupError(
                "refusing to send the SMTP password over an unencrypted connection; set [email] "
                "security = \"starttls\" or \"tls\", or allow_plaintext_auth = true to accept "
                "the risk")
        if "AUTH" not in self.extensions:
            raise SmtpSetupError(
                "the server does not offer AUTH, so [email] username cannot be used; remove it, "
                "or use the server's submission port (587 with security = \"starttls\")")
        mechanisms = self.extensions["AUTH"].upper().split()
        user, password = self.username or "", self._password or ""
        if "PLAIN" in mechanisms:
            await self._command("AUTH PLAIN " + b64(f"\0{user}\0{password}"), "AUTH", 235)
        elif "LOGIN" in mechanisms:
            await self._command("AUTH LOGIN", "AUTH", 334)
            await self._command(b64(user), "AUTH", 334)
            await self._command(b64(password), "AUTH", 235)
        else:
            raise SmtpSetupError(
                f"the server offers AUTH {' '.join(mechanisms) or '(no mechanism)'} but not "
                "PLAIN or LOGIN, the mechanisms this client speaks")

    def _envelope(self, sender: str, recipient: str) -> tuple[bytes, bytes]:
        utf8 = b" SMTPUTF8" if not (sender + recipient).isascii() and \
            "SMTPUTF8" in self.extensions else b""
        return (b"MAIL FROM:<" + _address(sender) + b">" + utf8 + b"\r\n",
                b"RCPT TO:<" + _address(recipient) + b">\r\n")

    async def send(self, sender: str, recipient: str, data: bytes,
                   then: tuple[str, str] | None = None, dotted: bool = True) -> str:
        """Send one message; returns the server's final reply text.

        `then` (sender, recipient) is the message this connection sends next: with PIPELINING
        its envelope goes in the same write as this message's body (RFC 2920 allows the body
        first in a group), so a message costs one write and one read instead of two. The next
        send must be that message, else the connection is dropped (SmtpOutOfStep). `dotted`
        False says no line of `data` begins with a dot: DATA then need not look for one.

        Raises SmtpReplyError (the server refused), SmtpProtocolError (a reply that does not fit),
        SmtpOutOfStep (the previous transaction left the connection unusable; nothing of this
        message was sent), OSError or TimeoutError. Whatever goes wrong, the next message starts
        on a clean connection: the transaction is reset with RSET, or the connection dropped to
        be reopened.
        """
        self.data_sent = False
        self._in_sync = False
        announced, self._announced = self._announced, None
        if announced is not None and announced.message != (sender, recipient):
            self._drop()  # the server may be waiting for that message's content
            raise SmtpOutOfStep("the connection was prepared for another message")
        if "CHUNKING" in self.extensions and self.pipelining:
            return await self._send_chunked(self._envelope(sender, recipient), data)
        pipelining = self.pipelining
        if announced is not None:
            replies = self._judge(announced)
        else:
            envelope = self._envelope(sender, recipient)
            with self._deadline:
                if pipelining:
                    replies = await self._pipelined((*envelope, b"DATA\r\n"))
                else:
                    replies = await self._one_by_one((*envelope, b"DATA\r\n"))
        if [code for code, _ in replies] != EXPECTED_CODES:
            await self._refused_envelope(replies, pipelining)
        payload = dot_stuff(data, dotted)
        following = then if pipelining else None  # the message whose envelope goes along
        if following is not None:
            # RSET first: a server that keeps a refused transaction open (issue 8) is back in
            # step before the next MAIL, whatever this message's end of DATA gets
            payload += b"RSET\r\n" + b"".join(self._envelope(*following)) + b"DATA\r\n"
        answer: Reply | None = None
        next_replies: list[Reply] = []
        try:
            # one deadline for the message and the replies to what came with it
            with self._deadline:
                self._stream().write(payload)
                self.data_sent = True
                answer = await self._reply()
                if following is not None and (200 <= answer.code < 300 or
                                              400 <= answer.code < 600 and answer.code != 421):
                    await self._read_announced(next_replies)
        except (OSError, TimeoutError):
            if answer is None:
                raise
            # Lost while answering the next envelope: this message's answer stands, and the
            # next one goes whole on a new connection.
            next_replies = []
        code, text = answer
        refused = not 200 <= code < 300
        if refused and 400 <= code < 600:
            self.data_sent = False  # refused: the server has not taken the message
        if following is not None and len(next_replies) == 4:
            self._announced = _Announced(following, next_replies, refused)
        elif following is not None and code != 421 and (not refused or 400 <= code < 600):
            self._drop()  # a 421 or a lost connection while answering the next envelope
        elif refused:
            await self._abandon([code])
        if refused:
            _refusal(code, text, "end of DATA")
        self._in_sync = self._announced is None
        return text

    async def _refused_envelope(self, replies: list[Reply], pipelining: bool) -> NoReturn:
        """Raise for an envelope not answered 250 250 354, with the connection back in step.

        Pipelined, MAIL, RCPT and DATA were all on the wire before the first reply came: a
        refused MAIL or RCPT is followed by replies to the commands after it (DATA answered
        503/554, or even 354). The first wrong reply says why; all of them say what the server
        now expects, which is what `_abandon` needs to get back in step."""
        if pipelining and _out_of_order(replies):
            self.pipelining_trusted = False
            self._drop()  # nothing of this message was sent: again, one command at a time
            raise SmtpOutOfStep("replies out of order: "
                                + ", ".join(f"{code} to {stage}" for (code, _), stage
                                            in zip(replies, ENVELOPE_STAGES, strict=False)))
        wrong = [i for i, (code, _) in enumerate(replies) if code != ENVELOPE_EXPECTS[i]]
        # a 354 after a refusal counts too: the server would take RSET for the message
        await self._abandon([code for i, (code, _) in enumerate(replies)
                             if i in wrong or code == 354])
        _refusal(*replies[wrong[0]], ENVELOPE_STAGES[wrong[0]])

    async def _read_announced(self, replies: list[Reply]) -> None:
        """Read the replies to the RSET and envelope sent with a body, into `replies`.

        A 354 before DATA's place means the replies come out of order (as from smtp-sink -W), so
        the one taken for the body's cannot be trusted either: SmtpProtocolError.
        """
        while len(replies) < 4 and (not replies or replies[-1].code != 421):
            replies.append(await self._reply())
            if replies[-1].code == 354 and len(replies) < 4:
                self.pipelining_trusted = False
                self._drop()
                raise SmtpProtocolError("replies out of order: 354 to a command before DATA")

    def _judge(self, announced: _Announced) -> list[Reply]:
        """The replies to an announced envelope, RSET's aside.

        The RSET cleared whatever the previous transaction left, so a refusal is this message's
        own; unless the RSET was refused too after a refused message: then the server may still
        hold that transaction (MAIL answered 503, DATA maybe 354), which is nobody's fault here.
        """
        rset, *replies = announced.replies
        if rset.code == 250 or not announced.after_refusal or \
                [code for code, _ in replies] == EXPECTED_CODES:
            return replies
        self._drop()
        raise SmtpOutOfStep(f"the server did not reset after a refused message: RSET: "
                            f"{rset.code} {rset.text}")

    async def _send_chunked(self, envelope: tuple[bytes, bytes], data: bytes) -> str:
        """RFC 3030 CHUNKING with RFC 2920: MAIL, RCPT, BDAT LAST and the message in one write,
        so one round trip per message instead of two (the body need not wait for a 354).

        The message is on the wire from the start: a connection lost before the last reply
        leaves it unknown, as a loss after the end of DATA does.
        """
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        with self._deadline:
            self.data_sent = True
            replies = await self._pipelined((*envelope, b"BDAT %d LAST\r\n" % len(data) + data))
        wrong = [i for i, (code, _) in enumerate(replies)
                 if not (code == 250 if i < 2 else 200 <= code < 300)]
        if wrong:
            code, text = replies[wrong[0]]
            if 400 <= code < 600:
                self.data_sent = False  # refused: the server has not taken the message
            await self._abandon([replies[i].code for i in wrong])
            _refusal(code, text, CHUNKED_STAGES[wrong[0]])
        self._in_sync = True
        return replies[2].text  # the reply to BDAT LAST: the server took the message

    async def _pipelined(self, commands: tuple[bytes, ...]) -> list[Reply]:
        """RFC 2920: every command in one write, then their replies in order."""
        self._stream().write(b"".join(commands))
        replies: list[Reply] = []
        for _ in commands:
            replies.append(await self._reply())
            if replies[-1].code == 421:
                break  # the server is closing the connection: the other replies never come
        return replies

    async def _one_by_one(self, commands: tuple[bytes, ...]) -> list[Reply]:
        replies = []
        for command, expected in zip(commands, ENVELOPE_EXPECTS, strict=True):
            self._stream().write(command)
            replies.append(await self._reply())
            if replies[-1].code != expected:
                break
        return replies

    async def _abandon(self, codes: list[int]) -> None:  # the replies that were not expected
        """After a refused transaction: RSET, or drop the connection if that cannot be trusted.

        Drop at once after a reply that does not fit (the connection is out of step), after a 354
        (the server waits for a message: rather than send it an empty one) and after a 421 (the
        server is closing the connection anyway).
        """
        if any(code == 421 or not 400 <= code < 600 for code in codes):
            self._drop()
            return
        try:
            async with asyncio.timeout(self.timeout):
                self._stream().write(b"RSET\r\n")
                code, _ = await self._reply()
        except (OSError, TimeoutError, SmtpProtocolError):
            code = 0
        if code == 250:
            self._in_sync = True
        else:
            self._drop()

    def _drop(self) -> None:
        """Abort the connection at once (no QUIT); the next send reconnects."""
        writer, self._writer, self._in_sync, self._announced = self._writer, None, False, None
        if writer is not None:
            writer.transport.abort()

    async def close(self) -> None:
        """Say QUIT on a connection in a known state and close it; abort any other; never raises.

        QUIT's reply is not waited for: nothing depends on it (every message was answered), and
        with a relay far away it would hold up the end of a campaign by a round trip a lane."""
        writer, self._writer, self._announced = self._writer, None, None
        if writer is None:
            return
        if not self._in_sync or writer.is_closing():
            writer.transport.abort()  # after an error or a timeout: no QUIT, no waiting
            return
        try:
            writer.write(b"QUIT\r\n")
        except OSError:
            pass
        finally:
            writer.close()
            try:
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass
