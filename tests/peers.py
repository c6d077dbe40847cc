"""Real test peers on loopback: smtp-sink, aiosmtpd, a fake Twilio API, and Prism serving Twilio's
spec."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
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


def wait_for_port(port: int, timeout: float = 30.0,
                  process: subprocess.Popen | None = None, address: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with {process.returncode}")
        try:
            socket.create_connection((address, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def smtp_sink_path() -> str | None:
    return shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/bin")


def start_sink() -> tuple[subprocess.Popen, int]:
    """A plain smtp-sink for benchmarks (no dumps): the process and its port."""
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([smtp_sink_path(), *user, f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process=sink)
    return sink, port


class SmtpSink:
    """Postfix's smtp-sink on a free port, dumping every message to a folder; on loopback unless
    another local `address` is given (the root side of the test hosts' bridge, say)."""

    def __init__(self, *options: str, address: str = "127.0.0.1"):
        require(smtp_sink_path() is not None, "Postfix smtp-sink (Debian package postfix)")
        self.folder = Path(tempfile.mkdtemp(prefix="smtp-sink-"))
        self.folder.chmod(0o777)
        folder = self.folder
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [smtp_sink_path(), *user, "-d", f"{folder}/%M.", *options,
             f"{address}:{self.port}", "256"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, process=self.process, address=address)

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
        # past `hold_after` messages, DATA waits until `released` is set: a campaign is then
        # sure to be mid-way, whatever the machine's load, while a test stops it
        self.hold_after: int | None = None
        self.released = threading.Event()
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
            held = self.hold_after is not None and len(self.messages) >= self.hold_after
        if held:
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
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
        # MessageSid -> (status, error code or None) that a GET of the message answers
        self.statuses: dict[str, tuple[str, int | None]] = {}
        self.fetches: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return None

            def do_GET(self):
                if self.headers.get("Authorization", "").endswith(fake.bad_auth):
                    return self._reply(401, {"code": 20003, "message": "Authenticate",
                                             "status": 401})
                if "/Messages/" in self.path:
                    return self._message()
                return self._reply(200, {"sid": ACCOUNT_SID, "status": "active",
                                         "friendly_name": "test account"})

            def _message(self):
                sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                with fake.lock:
                    fake.fetches.append((sid, time.time()))
                    known = fake.statuses.get(sid)
                if known is None:
                    return self._reply(404, {"code": 20404, "message": "not found",
                                             "status": 404})
                state, code = known
                return self._reply(200, {"sid": sid, "account_sid": ACCOUNT_SID,
                                         "status": state, "error_code": code,
                                         "error_message": None, "direction": "outbound-api"})

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
                with fake.lock:
                    fake.statuses[f"SM{number:032x}"] = ("queued", None)
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
        self._warm()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _warm(self) -> None:
        """Wait until Prism answers the send request. It prepares an operation at its first
        request: 2.7 s on a loaded machine (then 0.1 s), past the 2 s timeout the tests give
        the client, which took it for a send without an answer."""
        form = urllib.parse.urlencode({"To": "+14155550000", "From": "+15005550006",
                                       "Body": "warm-up"}).encode()
        auth = base64.b64encode(f"{ACCOUNT_SID}:{TWILIO_TOKEN}".encode()).decode()
        request = urllib.request.Request(
            f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", form,
            {"Authorization": f"Basic {auth}"})
        try:
            with urllib.request.urlopen(request, timeout=120):
                pass
        except urllib.error.HTTPError:
            pass  # an answer all the same: the operation is ready

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


TWILIO_TOKEN = "test-token-not-secret"  # the fake API's auth token, which signs the webhooks too
