"""bench/delay_proxy.py: RTT/2 each way, bytes intact and in order, latency without a rate limit."""

import os
import socket
import threading
import time

import pytest

from bench.delay_proxy import DelayProxy

RTT = 0.2


@pytest.fixture
def echo_through_proxy():
    """An echo server behind a DelayProxy; yields the proxy."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    def echo(connection):
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    proxy = DelayProxy(listener.getsockname(), RTT)
    yield proxy
    proxy.stop()
    listener.close()


def connect(proxy) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def receive(client: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += client.recv(size - len(data))
    return data


def test_a_round_trip_takes_one_rtt(echo_through_proxy):
    with connect(echo_through_proxy) as client:
        for _ in range(3):
            started = time.monotonic()
            client.sendall(b"ping\r\n")
            assert receive(client, 6) == b"ping\r\n"
            elapsed = time.monotonic() - started
            assert RTT <= elapsed < RTT * 2, elapsed  # held once each way, not twice


def test_chunks_in_flight_together_cost_one_rtt_not_one_each(echo_through_proxy):
    with connect(echo_through_proxy) as client:
        started = time.monotonic()
        for i in range(10):
            client.sendall(b"chunk %d\r\n" % i)
            time.sleep(0.01)
        data = receive(client, sum(len(b"chunk %d\r\n" % i) for i in range(10)))
        elapsed = time.monotonic() - started
    assert data == b"".join(b"chunk %d\r\n" % i for i in range(10))
    # chunks held one after the other would take 10 x RTT/2 each way
    assert RTT <= elapsed < RTT + 0.1 + 0.5, elapsed


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
