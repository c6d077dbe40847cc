"""A loopback TCP proxy that makes a relay look far away: every chunk is held RTT/2 each way.

Each chunk is forwarded RTT/2 after it arrived, in order, without waiting for the chunks before
it to be forwarded first: the proxy adds latency, never a bandwidth limit, like a long link.

    python3 bench/delay_proxy.py --rtt 40ms --to 127.0.0.1:2525 [--port 2526]

prints the port it listens on, then proxies until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import deque

CHUNK = 1 << 16


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk `delay` seconds after it arrived; EOF follows suit."""
    held: deque[tuple[float, bytes]] = deque()
    arrived = asyncio.Event()
    done = False

    async def forward() -> None:
        while held or not done:
            if not held:
                arrived.clear()
                await arrived.wait()
                continue
            due, chunk = held[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            held.popleft()
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof() and not writer.is_closing():
            try:
                writer.write_eof()
            except OSError:
                pass  # the other side is already gone

    forwarding = asyncio.create_task(forward())
    try:
        while True:
            chunk = await reader.read(CHUNK)
            held.append((time.monotonic() + delay, chunk))
            arrived.set()
            if not chunk:
                break
    except ConnectionError:
        held.append((time.monotonic() + delay, b""))
        arrived.set()
    finally:
        done = True
        arrived.set()
        try:
            await forwarding
        except ConnectionError:
            pass


class DelayProxy:
    """The proxy on 127.0.0.1:`port` (0: a free one) in front of `target`, holding every chunk
    RTT/2 in each direction; runs on its own thread until stop()."""

    def __init__(self, target: tuple[str, int], rtt: float, port: int = 0):
        self.target, self.delay = target, rtt / 2
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(port, ready), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the delay proxy did not start")

    def _serve(self, port: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", port))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connection(self, client_reader, client_writer) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(_pump(client_reader, server_writer, self.delay),
                                 _pump(server_reader, client_writer, self.delay))
        finally:
            client_writer.close()
            server_writer.close()

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
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    proxy = DelayProxy((host, int(port)), args.rtt, args.port)
    print(proxy.port, flush=True)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    sys.exit(main())
