"""A loopback TCP proxy that makes a relay look far away: every chunk is held RTT/2 each way.

Each chunk is forwarded RTT/2 after it arrived, in order, without waiting for the chunks before
it to be forwarded first: the proxy adds latency, never a bandwidth limit, like a long link.

    python3 bench/delay_proxy.py --rtt 40ms --to 127.0.0.1:2525 [--port 2526] [--priority]

prints the port it listens on, then proxies until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import sys
import threading
from collections import deque


class _Side(asyncio.Protocol):
    """One end of a proxied connection: what it receives goes out of its peer `delay` later.

    Held chunks wait in a queue in arrival order, each released by its own timer at its due
    time; EOF follows the data it came after, and once both directions ended both close.
    Protocol callbacks, no task per chunk, so the proxy's own cost stays far below the latency
    it adds.
    """

    def __init__(self, delay: float):
        self.delay = delay
        self.peer: _Side | None = None
        self.transport: asyncio.Transport | None = None
        self.held: deque[bytes | None] = deque()  # None: end of this side's stream
        self.ended = self.done = False
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._hold(data)

    def eof_received(self) -> bool:
        self._hold(None)
        return True  # keep the other direction open until the peer is done too

    def connection_lost(self, exc) -> None:
        self._hold(None)

    def _hold(self, data: bytes | None) -> None:
        if self.ended:
            return
        self.ended = data is None
        self.held.append(data)
        self.loop.call_at(self.loop.time() + self.delay, self._release)

    def _release(self) -> None:
        """Forward the oldest held chunk (each has its own timer, due in arrival order)."""
        data = self.held.popleft()
        out = self.peer.transport if self.peer else None
        if out is None or out.is_closing():
            return
        if data is not None:
            out.write(data)
            return
        self.done = True
        if not self.peer.done and out.can_write_eof():
            with contextlib.suppress(OSError):  # the peer went first: then close, as below
                out.write_eof()
                return
        out.close()
        self.transport.close()

    # flow control: a peer that cannot keep up pauses this side's reading
    def pause_writing(self) -> None:
        if self.peer and self.peer.transport:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer and self.peer.transport:
            self.peer.transport.resume_reading()


class DelayProxy:
    """The proxy on 127.0.0.1:`port` (0: a free one) in front of `target`, holding every chunk
    RTT/2 in each direction; runs on its own thread until stop()."""

    def __init__(self, target: tuple[str, int], rtt: float, port: int = 0):
        self.target, self.delay = target, rtt / 2
        self.connections = 0
        # select(2) takes its timeout in microseconds; epoll_wait(2) in whole milliseconds, which
        # asyncio rounds up, so every hold would end up to 1 ms late (0.5 ms on average, 1 ms per
        # round trip): a slower link than asked for. select's limit of 1024 descriptors is far
        # above the 2 per proxied connection the benchmarks need.
        self.loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(port, ready), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the delay proxy did not start")

    def _serve(self, port: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.port = port
        self.loop.run_until_complete(self._accept())
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _accept(self) -> None:
        """Start serving; each accepted connection gets its upstream connection."""
        delay, target = self.delay, self.target

        class Inbound(_Side):
            def connection_made(inner, transport) -> None:
                super().connection_made(transport)
                self.connections += 1
                transport.pause_reading()
                asyncio.ensure_future(connect(inner))

        async def connect(inbound: _Side) -> None:
            try:
                _, outbound = await inbound.loop.create_connection(lambda: _Side(delay), *target)
            except OSError:
                inbound.transport.close()
                return
            inbound.peer, outbound.peer = outbound, inbound
            inbound.transport.resume_reading()

        self.server = await asyncio.get_running_loop().create_server(
            lambda: Inbound(delay), "127.0.0.1", self.port)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _seconds(text: str) -> float:
    text = text.strip().lower()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.rstrip("s"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtt", type=_seconds, required=True, help="round-trip time: 40ms, 0.1s")
    parser.add_argument("--to", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    parser.add_argument("--priority", action="store_true",
                        help="run at a higher priority when allowed: the proxy stands for the "
                             "network, its timers should not wait behind the CPU load")
    args = parser.parse_args(argv)
    if args.priority:
        with contextlib.suppress(PermissionError):
            os.nice(-10)
    host, _, port = args.to.rpartition(":")
    proxy = DelayProxy((host, int(port)), args.rtt, args.port)
    print(proxy.port, flush=True)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    sys.exit(main())
