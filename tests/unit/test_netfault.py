"""The TCP relay that cuts an uplink: passes bytes both ways, cut drops and refuses, restore accepts again."""

from __future__ import annotations

import gc
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from simulators.modbus_device import free_tcp_port
from simulators.netfault import TcpRelay
from tests.waiting import wait_until

TIMEOUT_S = 5.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data.upper())


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def relay(echo: _EchoServer) -> Iterator[TcpRelay]:
    with TcpRelay("127.0.0.1", echo.server_address[1]) as running:
        yield running


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)


def assert_line_dead(client: socket.socket) -> None:
    """The other end went away: end of stream or a reset, never data."""
    try:
        data = client.recv(16)
    except ConnectionResetError:
        return
    assert data == b""


def exchange(client: socket.socket, data: bytes) -> bytes:
    client.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = client.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_the_relay_passes_bytes_both_ways(relay: TcpRelay) -> None:
    assert relay.port not in (0, relay.target_port)
    with connect(relay.port) as client:
        assert exchange(client, b"hello uplink") == b"HELLO UPLINK"
        big = bytes(range(97, 123)) * 10_000  # 260 kB: more than one read of the relay
        assert exchange(client, big) == big.upper()
    assert relay.relayed == 1


def test_a_cut_drops_live_connections_and_refuses_new_ones(relay: TcpRelay) -> None:
    client = connect(relay.port)
    try:
        assert exchange(client, b"before") == b"BEFORE"
        relay.cut()
        assert relay.is_cut
        assert_line_dead(client)
    finally:
        client.close()
    with pytest.raises(ConnectionRefusedError):
        connect(relay.port)


def test_restore_accepts_again_on_the_same_port(relay: TcpRelay) -> None:
    port = relay.port
    relay.cut()
    relay.restore()
    assert not relay.is_cut
    assert relay.port == port
    with connect(port) as client:
        assert exchange(client, b"after") == b"AFTER"


def test_an_unreachable_target_closes_the_client_and_the_relay_keeps_serving() -> None:
    with TcpRelay("127.0.0.1", free_tcp_port()) as relay, connect(relay.port) as client:
        assert_line_dead(client)
        wait_until(lambda: relay.refused_upstream == 1, TIMEOUT_S, "the refused upstream to be counted")
        with connect(relay.port) as second:
            second.settimeout(TIMEOUT_S)
            assert_line_dead(second)


def test_connections_arriving_as_the_line_is_cut_or_the_relay_stops_leave_no_socket_open(echo: _EchoServer) -> None:
    # Regression: closing an asyncio server between accepting a socket and making its transport leaked the socket.
    for _ in range(6):
        with TcpRelay("127.0.0.1", echo.server_address[1]) as relay:
            connect(relay.port).close()
            relay.cut()
            relay.restore()
            connect(relay.port).close()
    gc.collect()  # an unclosed socket would warn here (ResourceWarning is an error under pytest's settings)
