"""Back-pressure and fairness (replayer.flow): a client that floods or stops reading costs its own connection a
bounded buffer and the other clients nothing."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

from replayer.http import HttpConnection
from replayer.server import ReplayServer
from tests.replayer.builders import request_body, text_events, user_message, ws_exchange
from tests.replayer.client import client_frame, open_websocket

TURN = ({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]}, text_events("resp_1", "hi"))


def websocket_connection(server: ReplayServer) -> HttpConnection:
    """The server's side of the (one) open WebSocket connection."""
    [connection] = [c for c in server.connections if isinstance(c, HttpConnection) and c.websocket is not None]
    return connection


def send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the test hangs up while it is still sending
        sock.sendall(data)


def hang_up(sock: socket.socket) -> None:
    """Close a socket another thread is blocked sending on (a plain close would leave that send waiting)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def until(condition: Any, what: str) -> None:
    """Poll until ``condition()`` holds: an order of events, not a time limit (the deadline only ends a hang)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_client_that_pings_without_reading_is_no_longer_read(serve: Any) -> None:
    server = serve([ws_exchange([])])
    sock = open_websocket(server)
    pings = client_frame(b"p" * 125, opcode=9) * 100_000  # 13 MB of pings, each answered by a pong it never reads
    flooding = threading.Thread(target=send_quietly, args=(sock, pings), daemon=True)
    flooding.start()
    transport = websocket_connection(server).transport
    assert transport is not None
    until(lambda: not transport.is_reading() or not flooding.is_alive(), "the server stopped reading or all was sent")
    # Its pongs pile up to asyncio's high-water mark and one read's worth, not to the 13 MB it asked for.
    assert not transport.is_reading() and transport.get_write_buffer_size() < 1024 * 1024
    hang_up(sock)
    flooding.join(timeout=30)


def test_a_flooding_client_does_not_keep_another_from_its_answer(serve: Any) -> None:
    server = serve([ws_exchange([TURN]), ws_exchange([TURN])], match="body")
    flood_count = 100_000
    flooder = open_websocket(server)
    # The flooder reads what it is sent (so it is not held back for that): only fairness can let the other in.
    draining = threading.Thread(target=lambda: _drain(flooder), daemon=True)
    flooding = threading.Thread(target=send_quietly, args=(flooder, client_frame(b"x") * flood_count), daemon=True)
    draining.start()
    flooding.start()
    until(lambda: server.report.violations > 0, "the flood is being answered")
    other = open_websocket(server)
    other.sendall(client_frame(json.dumps(TURN[0]).encode()))
    received = b""
    while b"response.completed" not in received:
        received += other.recv(65536)
    answered_before = server.report.violations
    assert answered_before < flood_count // 10  # the other's answer came between the flood's, not after it
    other.close()
    hang_up(flooder)
    flooding.join(timeout=30)
    draining.join(timeout=30)


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


def test_an_http_client_that_pipelines_without_reading_is_no_longer_read(serve: Any) -> None:
    body = json.dumps(request_body([user_message("hi")])).encode()
    server = serve([], repeat=True)
    sock = socket.create_connection((server.host, server.port), timeout=30)
    request = b"POST /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    flooding = threading.Thread(target=send_quietly, args=(sock, request * 50_000), daemon=True)
    flooding.start()
    until(lambda: server.connections, "the connection is accepted")
    [connection] = [c for c in server.connections if isinstance(c, HttpConnection)]
    transport = connection.transport
    assert transport is not None
    until(lambda: not transport.is_reading() or not flooding.is_alive(), "the server stopped reading or all was sent")
    assert not transport.is_reading() and transport.get_write_buffer_size() < 1024 * 1024
    hang_up(sock)
    flooding.join(timeout=30)
