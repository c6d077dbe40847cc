"""bench/delay_proxy.py: RTT/2 each way, bytes intact and in order, latency without a rate limit."""

import os
import socket
import threading
import time

import pytest

from bench.delay_proxy import DelayProxy

RTT = 0.2


class EchoServer:
    """Echoes what it reads; `arrived` is (when, bytes) of every read, noted before the echo."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.arrived: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(connection,), daemon=True).start()

    def echo(self, connection):
        with connection:
            while data := connection.recv(65536):
                with self.lock:
                    self.arrived.append((time.monotonic(), data))
                connection.sendall(data)

    def received(self) -> bytes:
        """Everything read so far, in order."""
        with self.lock:
            return b"".join(data for _, data in self.arrived)


@pytest.fixture
def echo_server():
    server = EchoServer()
    yield server
    server.listener.close()


@pytest.fixture
def echo_through_proxy(echo_server):
    """An echo server behind a DelayProxy of RTT; yields the proxy."""
    proxy = DelayProxy(echo_server.listener.getsockname(), RTT)
    yield proxy
    proxy.stop()


def connect(proxy) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def receive(client: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += client.recv(size - len(data))
    return data


def test_a_round_trip_holds_rtt_over_2_each_way(echo_through_proxy, echo_server):
    # Lower bounds only, one per direction (when the server read the ping splits the round
    # trip): a loaded machine only adds to them. The delay IS the behaviour here.
    trips = []
    with connect(echo_through_proxy) as client:
        for _ in range(5):
            started = time.monotonic()
            client.sendall(b"ping\r\n")
            assert receive(client, 6) == b"ping\r\n"
            back = time.monotonic()
            at_server, data = echo_server.arrived[-1]
            assert data == b"ping\r\n"
            assert at_server - started >= RTT / 2, "not held on the way in"
            assert back - at_server >= RTT / 2, "not held on the way back"
            trips.append(back - started)
    # held once each way, not twice: the fastest of five round trips (load only slows some)
    # is under two RTTs
    assert min(trips) < RTT * 2, trips


def test_chunks_in_flight_together_are_held_together_not_one_after_another(echo_server):
    # An ordering rather than a duration: every chunk reached the server before the first
    # one's echo came back. Held one after another, the last would reach it 10 x RTT/2 after
    # the first was sent, long after that echo (RTT). A long RTT leaves the ten sends (10 ms
    # apart, so that each is a read of its own) half of it, however slow a loaded machine is.
    rtt = 1.0
    chunks = [b"chunk %d\r\n" % i for i in range(10)]
    proxy = DelayProxy(echo_server.listener.getsockname(), rtt)
    try:
        with connect(proxy) as client:
            started = time.monotonic()
            for chunk in chunks:
                client.sendall(chunk)
                time.sleep(0.01)
            sent = time.monotonic()
            first = client.recv(65536)
            first_echo = time.monotonic()
            data = first + receive(client, sum(map(len, chunks)) - len(first))
    finally:
        proxy.stop()
    assert data == b"".join(chunks) == echo_server.received()
    assert sent - started < rtt / 2, "the sends themselves took half the RTT: nothing proved"
    last_at_server = echo_server.arrived[-1][0]
    assert last_at_server < first_echo, (last_at_server - started, first_echo - started)


def test_bytes_arrive_intact_and_in_order_and_eof_passes(echo_through_proxy):
    payload = os.urandom(3 << 20)
    with connect(echo_through_proxy) as client:
        sender = threading.Thread(target=client.sendall, args=(payload,))
        sender.start()
        echoed = receive(client, len(payload))
        sender.join()
        assert echoed == payload
        client.shutdown(socket.SHUT_WR)
        assert client.recv(1) == b""
    assert echo_through_proxy.connections == 1
