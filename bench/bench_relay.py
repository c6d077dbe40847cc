"""A relay far away: our pipelining SMTP client vs smtplib through bench/delay_proxy.py.

Postfix smtp-sink behind the delay proxy at RTT (default 40 ms); for each connection count, every
connection first sends one message untimed (connect, greeting and EHLO are not the point), then
the clock runs over `--per-connection` messages on each. Our client needs 2 round trips per
message with PIPELINING (MAIL+RCPT+DATA in one write, the body after the 354), so its ceiling is
connections / (2 x RTT); smtplib waits for every reply: 4 round trips (MAIL, RCPT, DATA, body).
Sent as a runner's lane sends (each body with the next message's RSET, MAIL, RCPT and DATA),
ours needs 1 round trip per message after the first (the untimed first message already
announces the first timed one). A campaign sent by `messagehub-tui send` with one runner and the
same connections shows what the runner's lanes and claims leave of that (from 10 to 90 % sent).
`smtp-source -d` (C, no PIPELINING) through the same proxy and sink shows what they leave of a
ceiling at the moment's load, with a client whose own turnaround is next to nothing.
Against a server that offers CHUNKING (RFC 3030; Postfix has since 3.4, smtp-sink has not: the
scripted test server stands in) our client sends MAIL, RCPT, BDAT LAST and the message in one
write: 1 round trip per message.

    python3 bench/bench_relay.py [--rtt 40ms] [--connections 8 32] [--per-connection 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _table import print_table
from bench_send import send_home, watch_send
from delay_proxy import _seconds

from messagehub_tui import campaigns
from messagehub_tui.channels.base import Outcome, Outgoing
from messagehub_tui.channels.smtp import SmtpChannel
from messagehub_tui.config import EmailSettings
from messagehub_tui.config_load import load_settings
from messagehub_tui.database import close_db, open_db
from tests.peers import start_sink, wait_for_port

OURS_ROUND_TRIPS, CHUNKED_ROUND_TRIPS, SMTPLIB_ROUND_TRIPS = 2, 1, 4
SENDER = "bench@example.com"
MESSAGE = (b"From: Bench <bench@example.com>\r\nTo: <user@example.com>\r\nSubject: relay bench\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           + b"Your plan renews soon; here is what changed this month and what it means.\r\n" * 60)


def start_chunking_server() -> tuple[subprocess.Popen, int]:
    """The scripted SMTP server offering PIPELINING and CHUNKING, in its own process."""
    code = ("from tests.scripted_smtp import ScriptedSmtp\n"
            "server = ScriptedSmtp(chunking=True)\n"
            "print(server.port, flush=True)\n"
            "server.thread.join()\n")
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    port = int(server.stdout.readline())
    wait_for_port(port, process=server)
    return server, port


def start_proxy(target: int, rtt: float) -> tuple[subprocess.Popen, int]:
    """The delay proxy in its own process, so its timers do not share the client's CPU time,
    and at a higher priority when allowed: it stands for the network, not for a CPU user."""
    proxy = subprocess.Popen([sys.executable, str(ROOT / "bench" / "delay_proxy.py"),
                              "--rtt", f"{rtt}s", "--to", f"127.0.0.1:{target}", "--priority"],
                             stdout=subprocess.PIPE, text=True)
    port = int(proxy.stdout.readline())
    wait_for_port(port, process=proxy)
    return proxy, port


def run_ours(port: int, connections: int, per_connection: int, ahead: bool = False) -> float:
    """Our SmtpChannel; `ahead`: each message with the next as `then`, as a runner's lane.

    Each lane's untimed first message already announces its first timed one when `ahead`, as a
    lane that has been sending for a while would: else every lane's first timed message would
    cost 2 round trips, and the figure would be 100 messages in 101 round trips, not the steady
    state a campaign runs in."""
    settings = EmailSettings(transport="smtp", host="127.0.0.1", port=port, security="none",
                             sender=SENDER, connections=connections, timeout=30.0)
    channel = SmtpChannel(settings, SENDER)
    warmed: list[int] = []
    everyone_warm = asyncio.Event()
    started = 0.0

    async def lane(number: int) -> int:
        nonlocal started
        messages = [Outgoing(i, f"user{number}.{i}@example.com", MESSAGE)
                    for i in range(per_connection + 1)]
        sent = 0
        for i, message in enumerate(messages):
            then = messages[i + 1] if ahead and i + 1 < len(messages) else None
            result = await channel.send(number, message, then)
            if i > 0:
                sent += result.outcome == Outcome.SENT
                continue
            warmed.append(number)  # untimed: connect, greeting and EHLO are not the point
            if len(warmed) == connections:
                started = time.perf_counter()
                everyone_warm.set()
            await everyone_warm.wait()
        return sent

    async def run() -> float:
        await channel.open()
        try:
            sent = sum(await asyncio.gather(*(lane(n) for n in range(connections))))
            return sent / (time.perf_counter() - started)
        finally:
            await channel.close()
    return asyncio.run(run())


def run_campaign(port: int, connections: int, recipients: int) -> tuple[float, float]:
    """`messagehub-tui send` of a personalised text+HTML campaign with one runner process (so
    `connections` is every connection), through the proxy. Returns the steady rate, from 10 % to
    90 % sent (read from the database every 20 ms: start-up and the last lanes' tail are not the
    point here, bench_send counts them), and the seconds until the first message was recorded."""
    home, campaign_id = send_home(port, connections, recipients, processes=1)
    try:
        open_db(load_settings(home).db_location)
        samples: list[tuple[float, int]] = []
        try:
            started = time.perf_counter()
            watch_send(home, campaign_id, 0.02, lambda: samples.append(
                (time.perf_counter(), campaigns.delivery_counts(campaign_id).sent)))
        finally:
            close_db()
        if samples[-1][1] < recipients:
            raise SystemExit(f"the campaign sent {samples[-1][1]} of {recipients}")
        low, high = (next(s for s in samples if s[1] >= share * recipients)
                     for share in (0.1, 0.9))
        first = next(when for when, sent in samples if sent) - started
        return (high[1] - low[1]) / (high[0] - low[0]), first
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_smtp_source(port: int, connections: int, per_connection: int, rtt: float) -> float:
    """Postfix's smtp-source (C, no PIPELINING: HELO, then MAIL, RCPT, DATA and the body each
    wait for their reply) through the same proxy and sink: what the proxy and the sink leave of
    the ceiling at this moment's load, with a client whose own turnaround is next to nothing.
    Returns the fraction of its ideal wall time: (greeting + HELO + 4 per message + QUIT) x RTT."""
    started = time.perf_counter()
    subprocess.run(["smtp-source", "-d", "-s", str(connections), "-m",
                    str(connections * per_connection), "-l", str(len(MESSAGE)),
                    f"127.0.0.1:{port}"], check=True)
    return (3 + SMTPLIB_ROUND_TRIPS * per_connection) * rtt / (time.perf_counter() - started)


def run_smtplib(port: int, connections: int, per_connection: int) -> float:
    """One thread and one smtplib connection per lane, each message waiting for every reply."""
    ready = threading.Barrier(connections + 1)
    sent = [0] * connections

    def lane(number: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(SENDER, [f"warm{number}@example.com"], MESSAGE)
            ready.wait()
            for i in range(per_connection):
                client.sendmail(SENDER, [f"user{number}.{i}@example.com"], MESSAGE)
                sent[number] += 1

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(sent) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtt", type=_seconds, default=0.040, help="round-trip time (40ms)")
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--per-connection", type=int, default=100,
                        help="timed messages on each connection")
    args = parser.parse_args()
    sink, sink_port = start_sink()
    with contextlib.suppress(PermissionError):  # it stands for a relay on its own machine
        os.setpriority(os.PRIO_PROCESS, sink.pid, -10)
    proxy, port = start_proxy(sink_port, args.rtt)
    chunking, chunking_port = start_chunking_server()
    chunking_proxy, chunked = start_proxy(chunking_port, args.rtt)
    rows = [("RTT", f"{args.rtt * 1000:.0f} ms (delay proxy, RTT/2 each way)"),
            ("load average", f"{os.getloadavg()[0]:.1f} at the start"),
            ("message size", f"{len(MESSAGE):,} bytes"),
            ("round trips per message", (f"ours {OURS_ROUND_TRIPS} (PIPELINING), "
                                         f"{CHUNKED_ROUND_TRIPS} (with CHUNKING), "
                                         f"smtplib {SMTPLIB_ROUND_TRIPS}"))]
    try:
        for connections in args.connections:
            ceiling = connections / (OURS_ROUND_TRIPS * args.rtt)
            ours = run_ours(port, connections, args.per_connection)
            plain = run_smtplib(port, connections, args.per_connection)
            ideal = connections / (SMTPLIB_ROUND_TRIPS * args.rtt)
            rows.append((f"{connections} conns, ours",
                         (f"{ours:,.0f} msg/s = {ours / ceiling:.2f} x {connections} / (2 x RTT) "
                          f"(target 0.9: {'met' if ours >= 0.9 * ceiling else 'NOT met'})")))
            ahead = run_ours(port, connections, args.per_connection, ahead=True)
            once = connections / args.rtt
            rows.append((f"{connections} conns, ours as a lane sends",
                         (f"{ahead:,.0f} msg/s = {ahead / once:.2f} x {connections} / RTT "
                          "(next envelope with each body; target 0.9: "
                          f"{'met' if ahead >= 0.9 * once else 'NOT met'})")))
            campaign, first = run_campaign(port, connections, connections * args.per_connection)
            rows.append((f"{connections} conns, a campaign (send)",
                         (f"{campaign:,.0f} msg/s = {campaign / once:.2f} x {connections} / RTT "
                          f"from 10 to 90 % sent, one runner (first recorded after {first:.1f} s; "
                          f"target 0.9: {'met' if campaign >= 0.9 * once else 'NOT met'})")))
            alone = run_smtp_source(port, connections, args.per_connection // 2, args.rtt)
            rows.append((f"{connections} conns, proxy + sink alone",
                         (f"smtp-source -d (C, 4 round trips per message) gets {alone:.2f} of "
                          "its ceiling: what the proxy and sink leave at this load")))
            rows.append((f"{connections} conns, smtplib",
                         (f"{plain:,.0f} msg/s (its ceiling {ideal:,.0f}); pipelining buys "
                          f"x{ours / plain:.2f}")))
            best = connections / (CHUNKED_ROUND_TRIPS * args.rtt)
            fast = run_ours(chunked, connections, args.per_connection)
            rows.append((f"{connections} conns, ours + CHUNKING",
                         (f"{fast:,.0f} msg/s = {fast / best:.2f} x {connections} / RTT "
                          f"(scripted server); x{fast / ours:.2f} over DATA")))
    finally:
        for process in (proxy, sink, chunking_proxy, chunking):
            process.terminate()
            process.wait()
    print_table("SMTP relay far away (target: ours >= 0.9 x connections / (2 x RTT))", rows)


if __name__ == "__main__":
    main()
