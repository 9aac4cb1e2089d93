"""Fuzzing a live replay server with raw HTTP and WebSocket bytes: every input gets a clean answer or a
clean close, and the server goes on serving a well-formed request afterwards."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replayer.limits import Limits
from replayer.server import ReplayServer
from tests.replayer.builders import request_body, sse_exchange, text_events, user_message, ws_exchange
from tests.replayer.client import client_frame, open_websocket

GREETING = request_body([user_message("hi")])
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    turn = ({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]},
            text_events("resp_ws", "hello"))
    exchanges: list[Any] = [sse_exchange(GREETING, text_events("resp_1", "hello")), ws_exchange([turn])]
    with ReplayServer(exchanges, repeat=True, limits=Limits(request_timeout=2.0), keep_requests=False) as running:
        yield running


def answer_to(server: ReplayServer, raw: bytes) -> bytes:
    """Send raw bytes, half-close, and read until the server closes or goes quiet."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        data = b""
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass  # a server that answered and hung up may reset what was still unread
        return data


def assert_still_serves(server: ReplayServer) -> None:
    raw = json.dumps(GREETING).encode()
    answer = answer_to(server, b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               b"Content-Length: %d\r\n\r\n%s" % (len(raw), raw))
    assert answer.startswith(b"HTTP/1.1 200") and b"response.completed" in answer, answer[:200]


def assert_clean(answer: bytes) -> None:
    """Nothing, or HTTP answers (never a Python traceback or a half-written status line)."""
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert b"Traceback" not in answer


header_names = st.sampled_from(["Content-Length", "Transfer-Encoding", "Content-Encoding", "Expect", "Upgrade",
                                "Connection", "Host", "X-Anything"])
header_values = st.one_of(st.sampled_from(["chunked", "zstd", "gzip", "br", "100-continue", "websocket", "-1",
                                           "99999999999999999999", "0", "close"]),
                          st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20))


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "BREW", ""]))
    path = draw(st.sampled_from(["/v1/responses", "/responses", "/v1/models", "/v1/responses/compact", "/", "*",
                                 "/v1/../../etc/passwd", "/v1/%00"]))
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    odd_json = [b"[]", b"null", b'{"input": 5}', b'{"input": [{"type": "function_call"}]}']
    body = draw(st.one_of(st.binary(max_size=200), st.just(json.dumps(GREETING).encode()), st.sampled_from(odd_json)))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode() + b"\r\n" + body


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes(server: ReplayServer, raw: bytes) -> None:
    assert_clean(answer_to(server, raw))
    assert_still_serves(server)


@FUZZ
@given(raw=http_requests())
def test_mangled_http_requests(server: ReplayServer, raw: bytes) -> None:
    assert_clean(answer_to(server, raw))
    assert_still_serves(server)


@FUZZ
@given(frames=st.lists(st.tuples(st.integers(0, 15), st.booleans(), st.booleans(), st.binary(max_size=200)),
                       min_size=1, max_size=4))
def test_random_websocket_frames(server: ReplayServer, frames: list[tuple[int, bool, bool, bytes]]) -> None:
    with open_websocket(server) as sock:
        sock.settimeout(5)
        try:
            for opcode, rsv1, fin, payload in frames:
                sock.sendall(client_frame(payload, opcode=opcode, rsv1=rsv1, fin=fin))
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server hung up on a broken frame (reset, not connected, ...): that is an answer too
    assert_still_serves(server)
