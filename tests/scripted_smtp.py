"""A raw SMTP server on loopback that misbehaves on cue, for the SMTP client's error paths."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter


class ScriptedSmtp:
    """A raw SMTP server on loopback that misbehaves on cue, for the client's error paths.

    `faults` maps a transaction number (1 for the first MAIL the server sees, counted across
    connections) to what goes wrong in it: "mail", "rcpt", "data" or "end" (a 5xx at that stage),
    "unexpected" (250 to DATA instead of 354), "drop" (half a reply to RCPT, then the connection
    closes), "421" (421 to MAIL, then the connection closes), "hang" (the message is read, its
    end of DATA never answered). Like the server of issue 8 it keeps
    a failed transaction open until RSET, so a client that does not reset gets "503 nested MAIL".
    `broken_rset` answers RSET with 502 and never resets; `silent` accepts connections and never
    says a word; `greeted` (with `silent`) is how many connections are served normally before
    the silence (as a server whose later connections wait for a greeting); `refuse_ehlo`
    answers EHLO with 550; `chunking` offers BDAT (RFC 3030); `auth` is the AUTH mechanisms to
    offer (None: no AUTH); `echo` refuses AUTH with 535 quoting the last line it got
    ("garbage": quotes it in a line that is not an SMTP reply); `limit` is how many connections
    it serves at once, greeting any more with 421 and closing them (as relays that cap a
    client's connections do); `hold` (with `limit`) greets a served connection only once the
    server has refused one, so a test knows that a second client met the cap while the first
    held its connection. Every chunk the server reads is kept in `reads`, to prove what
    arrived together.
    """

    def __init__(self, pipelining: bool = True, faults: dict[int, str] | None = None,
                 broken_rset: bool = False, silent: bool = False, auth: str | None = None,
                 echo: bool | str = False, starttls: bool = False, refuse_ehlo: bool = False,
                 chunking: bool = False, greeted: int = 0, limit: int | None = None,
                 hold: bool = False):
        self.greeted, self.limit, self.open_sessions = greeted, limit, 0
        self.hold, self.refused = hold, 0
        self.pipelining, self.faults, self.broken_rset = pipelining, dict(faults or {}), broken_rset
        self.silent, self.auth, self.echo, self.starttls = silent, auth, echo, starttls
        self.refuse_ehlo, self.chunking = refuse_ehlo, chunking
        self.reads: list[bytes] = []
        self.commands: list[str] = []
        self.messages: list[tuple[str, bytes]] = []
        self.connections = 0
        self.transactions = 0
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.refusal = asyncio.Event()
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def recipients(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpt, _ in self.messages)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self.lock:
            self.connections += 1
            silent = self.silent and self.connections > self.greeted
            over = self.limit is not None and self.open_sessions >= self.limit
            self.open_sessions += not over
        if over:
            with self.lock:
                self.refused += 1
            self.refusal.set()
            writer.write(b"421 4.7.0 Error: too many connections from 127.0.0.1\r\n")
            writer.close()
            return
        try:
            await self._converse(reader, writer, silent)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with self.lock:
                self.open_sessions -= 1

    async def _converse(self, reader, writer, silent: bool) -> None:
        if silent:
            while chunk := await reader.read(65536):
                with self.lock:
                    self.reads.append(chunk)
            return
        if self.hold:
            await self.refusal.wait()
        writer.write(b"220 scripted ESMTP\r\n")
        buffer, mail, rcpt, data, login, bdat = b"", False, None, None, 0, None
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            with self.lock:
                self.reads.append(chunk)
            buffer += chunk
            while True:
                if bdat is not None:  # BDAT: exactly `bdat` octets of message
                    if len(buffer) < bdat:
                        break
                    body, buffer, bdat = buffer[:bdat], buffer[bdat:], None
                    fault = self.faults.get(self.transactions)
                    if not rcpt:
                        writer.write(b"503 5.5.1 Error: no valid recipients\r\n")
                    elif fault == "end":
                        writer.write(b"554 5.7.1 message refused at end of BDAT\r\n")
                    else:
                        with self.lock:
                            self.messages.append((rcpt, body))
                        writer.write(b"250 2.0.0 Ok: queued\r\n")
                        mail, rcpt = False, None
                    continue
                if data is not None:
                    view = b"\r\n" + buffer  # so that an empty body's lone dot ends it too
                    end = view.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    body, buffer = view[2:end + 2], view[end + 5:]
                    fault = self.faults.get(self.transactions)
                    if fault == "hang":
                        while await reader.read(65536):
                            pass
                        return
                    if fault == "end":
                        writer.write(b"554 5.7.1 message refused at end of DATA\r\n")
                    else:
                        with self.lock:
                            self.messages.append((rcpt, body))
                        writer.write(b"250 2.0.0 Ok: queued\r\n")
                        mail, rcpt = False, None
                    data = None
                    continue
                line, sep, rest = buffer.partition(b"\r\n")
                if not sep:
                    break
                buffer = rest
                text = line.decode("utf-8", "replace")
                verb = text.split(" ", 1)[0].upper()
                with self.lock:
                    self.commands.append(text)
                if login:  # inside AUTH LOGIN: the user, then the password, in base64
                    login = 2 if login == 1 else 0
                    if login:
                        writer.write(b"334 UGFzc3dvcmQ6\r\n")
                    else:
                        writer.write(self._auth_reply(text))
                elif verb == "EHLO" and self.refuse_ehlo:
                    writer.write(b"550 5.7.1 not you\r\n")
                elif verb == "EHLO":
                    extensions = (["PIPELINING"] if self.pipelining else []) + \
                        ([f"AUTH {self.auth}"] if self.auth else []) + \
                        (["STARTTLS"] if self.starttls else []) + \
                        (["CHUNKING"] if self.chunking else [])
                    lines = ["scripted", *extensions, "8BITMIME"]
                    writer.write("".join(f"250{'-' if i < len(lines) - 1 else ' '}{item}\r\n"
                                         for i, item in enumerate(lines)).encode())
                elif verb == "AUTH" and text.upper() == "AUTH LOGIN":
                    login = 1
                    writer.write(b"334 VXNlcm5hbWU6\r\n")
                elif verb == "AUTH":
                    writer.write(self._auth_reply(text))
                elif verb == "MAIL":
                    if mail:
                        writer.write(b"503 5.5.1 Error: nested MAIL command\r\n")
                        continue
                    with self.lock:
                        self.transactions += 1
                    fault = self.faults.get(self.transactions)
                    if fault == "421":
                        writer.write(b"421 4.3.2 service shutting down\r\n")
                        await writer.drain()
                        return
                    if fault == "mail":
                        writer.write(b"550 5.7.1 sender refused\r\n")
                        continue
                    mail = True
                    writer.write(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    fault = self.faults.get(self.transactions)
                    if not mail:
                        writer.write(b"503 5.5.1 Error: need MAIL command\r\n")
                    elif fault == "drop":
                        writer.write(b"250-2.1.5 half a rep")
                        await writer.drain()
                        return
                    elif fault == "rcpt":
                        writer.write(b"550 5.1.1 recipient refused\r\n")
                    else:
                        rcpt = text.partition("<")[2].partition(">")[0]
                        writer.write(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    fault = self.faults.get(self.transactions)
                    if fault == "unexpected":
                        writer.write(b"250 2.0.0 what DATA?\r\n")
                    elif fault == "data" or not rcpt:
                        writer.write(b"554 5.5.1 Error: no valid recipients\r\n")
                    else:
                        data = b""
                        writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                elif verb == "BDAT" and self.chunking:
                    bdat = int(text.split()[1])
                elif verb == "RSET":
                    if self.broken_rset:
                        writer.write(b"502 5.5.2 RSET not implemented\r\n")
                    else:
                        mail, rcpt = False, None
                        writer.write(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                elif verb == "NOOP":
                    writer.write(b"250 2.0.0 Ok\r\n")
                else:
                    writer.write(b"502 5.5.2 Error: command not recognized\r\n")

    def _auth_reply(self, line: str) -> bytes:
        if self.echo == "garbage":  # not even an SMTP reply
            return f"what is {line}?\r\n".encode()
        if self.echo:
            return f"535 5.7.8 authentication failed for: {line}\r\n".encode()
        return b"235 2.7.0 Authentication successful\r\n"

    def stop(self) -> None:
        async def shutdown():
            self.server.close()
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
