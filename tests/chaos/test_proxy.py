"""The fault-injecting proxy itself, against a loopback echo server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.chaos.proxy import FaultProxy


@pytest.fixture()
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def _client(proxy: FaultProxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def _echo(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_forwards_both_ways(echo_port: int) -> None:
    with FaultProxy(("127.0.0.1", echo_port)) as proxy, _client(proxy) as sock:
        assert _echo(sock, b"hello" * 1000) == b"hello" * 1000
        time.sleep(0.1)  # the counters follow the send
        assert proxy.stats.bytes_up == proxy.stats.bytes_down == 5000


def test_latency_and_bandwidth(echo_port: int) -> None:
    with FaultProxy(("127.0.0.1", echo_port)) as proxy, _client(proxy) as sock:
        proxy.set_latency(0.2)
        started = time.monotonic()
        assert _echo(sock, b"x") == b"x"
        assert time.monotonic() - started >= 0.4  # held 0.2 s each way
        proxy.heal()
        proxy.set_bandwidth(100_000)  # 100 kB/s each way: 50 kB take >= 0.5 s
        started = time.monotonic()
        assert _echo(sock, b"y" * 50_000) == b"y" * 50_000
        assert time.monotonic() - started >= 0.45  # the two directions overlap


def test_holding_blackhole_delivers_after_heal(echo_port: int) -> None:
    with FaultProxy(("127.0.0.1", echo_port)) as proxy, _client(proxy, timeout=0.5) as sock:
        assert _echo(sock, b"a") == b"a"
        proxy.blackhole()
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        # New connections are accepted but go nowhere either.
        with _client(proxy, timeout=0.3) as other:
            other.sendall(b"new")
            with pytest.raises(TimeoutError):
                other.recv(10)
            proxy.heal()
            other.settimeout(5)
            assert other.recv(10) == b"new"
        sock.settimeout(5)
        assert sock.recv(10) == b"held"


def test_dropping_blackhole_loses_bytes_silently(echo_port: int) -> None:
    with FaultProxy(("127.0.0.1", echo_port)) as proxy, _client(proxy, timeout=0.5) as sock:
        proxy.blackhole(drop=True)
        sock.sendall(b"lost")
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.heal()
        assert _echo(sock, b"after") == b"after"  # the dropped bytes never arrive
        assert proxy.stats.dropped == 4


def test_reset_and_reject(echo_port: int) -> None:
    with FaultProxy(("127.0.0.1", echo_port)) as proxy:
        with _client(proxy) as sock:
            assert _echo(sock, b"a") == b"a"
            assert proxy.reset_connections() == 1
            with pytest.raises(ConnectionResetError):
                sock.sendall(b"b")
                sock.recv(10)
        proxy.set_reject(True)
        # The RST may arrive while connecting already, or at the first send/receive.
        with pytest.raises((ConnectionResetError, BrokenPipeError)), _client(proxy) as sock:
            time.sleep(0.2)
            sock.sendall(b"c")
            sock.recv(10)
        proxy.heal()
        with _client(proxy) as sock:
            assert _echo(sock, b"ok") == b"ok"
