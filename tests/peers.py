"""Real test peers on loopback: smtp-sink, aiosmtpd, a fake Twilio API, and Prism serving Twilio's spec."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

ROOT = Path(__file__).resolve().parent.parent
TWILIO_SPEC = ROOT.parent / "shared" / "twilio" / "twilio_api_v2010.json"
ACCOUNT_SID = "AC" + "0" * 32


def require(found: bool, what: str) -> None:
    """Skip when a peer is missing on a developer machine; fail when CI is set."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; .ci/run must install it")
    pytest.skip(f"{what} is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def smtp_sink_path() -> str | None:
    return shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/bin")


class SmtpSink:
    """Postfix's smtp-sink on a free port, dumping every message to a folder."""

    def __init__(self, *options: str):
        require(smtp_sink_path() is not None, "Postfix smtp-sink (Debian package postfix)")
        self.folder = Path(tempfile.mkdtemp(prefix="smtp-sink-"))
        self.folder.chmod(0o777)
        folder = self.folder
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [smtp_sink_path(), *user, "-d", f"{folder}/%M.", *options,
             f"127.0.0.1:{self.port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, process=self.process)

    def recipients(self) -> Counter:
        """How many messages each recipient got, from the dumped envelopes."""
        counts = Counter()
        for path in self.folder.iterdir():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("X-Rcpt-Args: <"):
                    counts[line[len("X-Rcpt-Args: <"):].split(">")[0]] += 1
                if not line:
                    break
        return counts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class RecordingHandler:
    """aiosmtpd handler that keeps every message and counts EHLOs (one per connection)."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.times: list[float] = []
        self.ehlo = 0
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.ehlo += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
            self.times.append(time.time())
        return "250 2.0.0 Ok: queued"

    def recipients(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpts, _ in self.messages for rcpt in rcpts)


class FakeTwilio:
    """A Twilio-compatible Messages endpoint whose answer depends on the To number."""

    OUTCOMES = {
        "+14155550200": (400, 21211, "The 'To' number is not a valid phone number."),
        "+14155550201": (400, 21610, "Attempt to send to unsubscribed recipient"),
        "+14155550202": (400, 21614, "'To' number is not a valid mobile number"),
        "+14155550203": (401, 20003, "Authenticate"),
        "+14155550204": (403, 30002, "Account suspended"),
    }

    def __init__(self):
        self.requests: list[dict] = []
        self.fail_first: dict[str, tuple[int, int | None]] = {}
        self.delay: dict[str, float] = {}
        self.bad_auth = "\0"
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def do_GET(self):
                if self.headers.get("Authorization", "").endswith(fake.bad_auth):
                    return self._reply(401, {"code": 20003, "message": "Authenticate",
                                             "status": 401})
                return self._reply(200, {"sid": ACCOUNT_SID, "status": "active",
                                         "friendly_name": "test account"})

            def do_POST(self):
                body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                fields = {key: values[0] for key, values in body.items()}
                with fake.lock:
                    fake.requests.append({"path": self.path, **fields, "at": time.time(),
                                          "auth": self.headers.get("Authorization", "")})
                    number = len(fake.requests)
                    transient = fake.fail_first.pop(fields.get("To"), None)
                time.sleep(fake.delay.get(fields.get("To"), 0))
                if transient:
                    status, code = transient
                    return self._reply(status, {"code": code, "message": "try later",
                                                "status": status})
                outcome = fake.OUTCOMES.get(fields.get("To"))
                if outcome:
                    status, code, message = outcome
                    return self._reply(status, {"code": code, "message": message,
                                                "status": status})
                return self._reply(201, {"sid": f"SM{number:032x}", "status": "queued",
                                         "to": fields.get("To"), "body": fields.get("Body")})

            def _reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent_to(self) -> Counter:
        with self.lock:
            return Counter(request["To"] for request in self.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prism_command() -> list[str] | None:
    local = ROOT / "node_modules" / ".bin" / "prism"
    if local.exists():
        return [str(local)]
    return None


class Prism:
    """Prism mocking Twilio's published OpenAPI spec on a free port."""

    def __init__(self):
        command = prism_command()
        require(command is not None and TWILIO_SPEC.exists(),
                "Prism (npm install in the repository) and ../shared/twilio/twilio_api_v2010.json")
        self.port = free_port()
        self.process = subprocess.Popen(
            [*command, "mock", "-h", "127.0.0.1", "-p", str(self.port), str(TWILIO_SPEC)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=120, process=self.process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class ScriptedSmtp:
    """A raw SMTP server on loopback that misbehaves on cue, for the client's error paths.

    `faults` maps a transaction number (1 for the first MAIL the server sees, counted across
    connections) to what goes wrong in it: "mail", "rcpt", "data" or "end" (a 5xx at that stage),
    "unexpected" (250 to DATA instead of 354), "drop" (half a reply to RCPT, then the connection
    closes), "421" (421 to MAIL, then the connection closes). Like the server of issue 8 it keeps
    a failed transaction open until RSET, so a client that does not reset gets "503 nested MAIL".
    `broken_rset` answers RSET with 502 and never resets; `silent` accepts connections and never
    says a word; `refuse_ehlo` answers EHLO with 550; `auth` is the AUTH mechanisms to offer
    (None: no AUTH); `echo` refuses AUTH with 535 quoting the last line it got. Every chunk the
    server reads is kept in `reads`, to prove what arrived together.
    """

    def __init__(self, pipelining: bool = True, faults: dict[int, str] | None = None,
                 broken_rset: bool = False, silent: bool = False, auth: str | None = None,
                 echo: bool = False, starttls: bool = False, refuse_ehlo: bool = False):
        self.pipelining, self.faults, self.broken_rset = pipelining, dict(faults or {}), broken_rset
        self.silent, self.auth, self.echo, self.starttls = silent, auth, echo, starttls
        self.refuse_ehlo = refuse_ehlo
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
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _converse(self, reader, writer) -> None:
        if self.silent:
            while await reader.read(65536):
                pass
            return
        writer.write(b"220 scripted ESMTP\r\n")
        buffer, mail, rcpt, data, login = b"", False, None, None, 0
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            with self.lock:
                self.reads.append(chunk)
            buffer += chunk
            while True:
                if data is not None:
                    view = b"\r\n" + buffer  # so that an empty body's lone dot ends it too
                    end = view.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    body, buffer = view[2:end + 2], view[end + 5:]
                    fault = self.faults.get(self.transactions)
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
                        (["STARTTLS"] if self.starttls else [])
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
        if self.echo:
            return f"535 5.7.8 authentication failed for: {line}\r\n".encode()
        return b"235 2.7.0 Authentication successful\r\n"

    def stop(self) -> None:
        async def shutdown():
            self.server.close()
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
