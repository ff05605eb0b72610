"""A loopback TCP proxy for chaos tests: sits in front of a server port and injects network faults.

Clients connect to ``proxy.port``; each connection is forwarded to the upstream server by two pump
threads (one per direction). Faults can be switched at any time, for every connection at once:

* ``set_latency(seconds)``: every chunk is held that long before it is forwarded (one way).
* ``set_bandwidth(bytes_per_second)``: each direction of each connection is throttled.
* ``blackhole(drop=False)``: a partition. Nothing is forwarded; new connections are accepted but
  not connected upstream. With ``drop=False`` the bytes wait (in the proxy or the kernel buffers)
  and flow again after ``heal()``, as TCP retransmission would deliver them after a short
  partition. With ``drop=True`` they are read and thrown away, and the connections are never told:
  half-dead connections only a client-side timeout gets out of.
* ``reset_connections()``: close every open connection with a TCP RST (SO_LINGER 0) on both sides.
* ``set_reject(True)``: reset every new connection as soon as it is accepted.
* ``heal()``: no latency, no bandwidth limit, no blackhole, no rejection.

A connection whose client side sees a fault-free proxy costs ~nothing (recv/sendall of chunks).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

_CHUNK = 64 * 1024
_TICK = 0.05  # how often an idle pump re-checks the faults


@dataclass(slots=True)
class ProxyStats:
    accepted: int = 0
    reset: int = 0
    bytes_up: int = 0  # client -> server
    bytes_down: int = 0  # server -> client
    dropped: int = 0


def _rst_close(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST rather than a FIN (linger on, timeout 0)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Connection:
    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, name="proxy-conn", daemon=True).start()

    def _run(self) -> None:
        proxy = self.proxy
        # A partition: the client is accepted, but the server is not reached until it heals.
        early = b""
        while proxy.blackholed and not self.closed.is_set():
            if proxy.blackhole_drops:
                early += self._drain(self.client)
            else:
                self.closed.wait(_TICK)
        if self.closed.is_set():
            return
        try:
            self.upstream = socket.create_connection(proxy.upstream, timeout=10)
            self.upstream.settimeout(None)
            self.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if early:
                self.upstream.sendall(early)
        except OSError:
            self.close(rst=True)
            return
        down = threading.Thread(target=self._pump, args=(self.upstream, self.client, False), daemon=True)
        down.start()
        self._pump(self.client, self.upstream, True)
        down.join()

    def _drain(self, source: socket.socket) -> bytes:
        """Read and discard what is waiting (a dropping blackhole); returns bytes read after a heal."""
        try:
            ready, _, _ = select.select([source], [], [], _TICK)
            if not ready:
                return b""
            data = source.recv(_CHUNK)
        except OSError:
            self.close()
            return b""
        if not data:
            self.close()
            return b""
        if not self.proxy.blackholed:
            return data  # healed while waiting: these bytes were sent after the heal
        with self.proxy.lock:
            self.proxy.stats.dropped += len(data)
        return b""

    def _pump(self, source: socket.socket, target: socket.socket, up: bool) -> None:
        proxy = self.proxy
        while not self.closed.is_set():
            if proxy.blackholed:
                if not proxy.blackhole_drops:
                    self.closed.wait(_TICK)  # hold: leave the bytes in the kernel buffers
                    continue
                data = self._drain(source)
                if not data:
                    continue
            else:
                try:
                    ready, _, _ = select.select([source], [], [], _TICK)
                except (OSError, ValueError):
                    break
                if not ready:
                    continue
                rate = proxy.bandwidth
                size = _CHUNK if rate is None else max(1, min(_CHUNK, int(rate * 0.05)))
                try:
                    data = source.recv(size)
                except OSError:
                    break
                if not data:
                    break
            rate = proxy.bandwidth
            if proxy.latency > 0:
                time.sleep(proxy.latency)
            if rate is not None:
                time.sleep(len(data) / rate)
            if proxy.blackholed and proxy.blackhole_drops:
                with proxy.lock:
                    proxy.stats.dropped += len(data)
                continue
            while proxy.blackholed and not proxy.blackhole_drops and not self.closed.is_set():
                self.closed.wait(_TICK)  # the partition began while this chunk was in flight
            try:
                target.sendall(data)
            except OSError:
                break
            with proxy.lock:
                if up:
                    proxy.stats.bytes_up += len(data)
                else:
                    proxy.stats.bytes_down += len(data)
        self.close()

    def close(self, *, rst: bool = False) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if rst:
                _rst_close(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        self.proxy._forget(self)


class FaultProxy:
    """``with FaultProxy(("127.0.0.1", server_port)) as proxy:`` connect clients to ``proxy.port``."""

    def __init__(self, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.host = host
        self.lock = threading.Lock()
        self.stats = ProxyStats()
        self.latency = 0.0
        self.bandwidth: float | None = None
        self.blackholed = False
        self.blackhole_drops = False
        self.reject = False
        self._connections: set[_Connection] = set()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(_TICK)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in self.connections():
            conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def connections(self) -> list[_Connection]:
        with self.lock:
            return list(self._connections)

    def _forget(self, conn: _Connection) -> None:
        with self.lock:
            self._connections.discard(conn)

    # -- faults --------------------------------------------------------------------------------
    def set_latency(self, seconds: float) -> None:
        self.latency = max(0.0, seconds)

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bandwidth must be positive (None: unlimited)")
        self.bandwidth = bytes_per_second

    def blackhole(self, *, drop: bool = False) -> None:
        self.blackhole_drops = drop
        self.blackholed = True

    def set_reject(self, reject: bool) -> None:
        self.reject = reject

    def reset_connections(self) -> int:
        """RST every open connection (both sides); returns how many."""
        conns = self.connections()
        for conn in conns:
            conn.close(rst=True)
        with self.lock:
            self.stats.reset += len(conns)
        return len(conns)

    def heal(self) -> None:
        self.latency = 0.0
        self.bandwidth = None
        self.reject = False
        self.blackholed = False
        self.blackhole_drops = False

    # -- accepting -----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.stats.accepted += 1
            if self.reject:
                _rst_close(client)
                with self.lock:
                    self.stats.reset += 1
                continue
            conn = _Connection(self, client)
            with self.lock:
                self._connections.add(conn)
            conn.start()
