"""What a client cannot do to the replay server: oversized or slow requests, bombs, broken WebSocket frames.

Every case is sent over a raw socket (no client would send it), or by a real client where one
would (an oversized body), and every case ends with a well-behaved request on a fresh connection
to show the server still serves.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
import zlib
from typing import Any

import openai
import pytest
import zstandard

from replayer.limits import Limits
from replayer.server import ReplayServer
from tests.replayer.builders import request_body, sse_exchange, text_events, user_message, ws_exchange
from tests.replayer.client import client_frame, close_code, open_websocket, post

GREETING = request_body([user_message("hi")])


def still_serves(server: ReplayServer) -> None:
    status, _, body = post(server, "/v1/models", b"", method="GET")
    assert status in (200, 404, 409), body  # answered: the server is alive and parsing requests


def exchange_bytes(server: ReplayServer, raw: bytes, read_until_close: bool = True) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while read_until_close:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def small(serve: Any) -> ReplayServer:
    limits = Limits(body=4096, decoded_body=64 * 1024, url=512, header_bytes=2048, headers=20,
                    websocket_message=64 * 1024, request_timeout=0.5)
    return serve([sse_exchange(GREETING, text_events("resp_1", "hello")), ws_exchange([])], limits=limits, repeat=True)


def test_an_oversized_body_is_a_413(small: ReplayServer) -> None:
    body = b"x" * 10_000
    answer = exchange_bytes(small, b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(body), body))
    assert status_of(answer) == 413 and b"--limit body" in answer
    assert small.report.violations == 1
    still_serves(small)


def test_a_client_sending_a_body_far_over_the_limit_reads_its_413_not_a_reset(small: ReplayServer) -> None:
    """urllib writes the whole body before it reads: the server answers, ends its side, and throws away the rest
    of the body as it comes, so the client reads the 413 rather than a reset on its next write."""
    body = b"x" * (8 * 1024 * 1024)  # more than the sockets on both sides hold
    request = urllib.request.Request(f"{small.url}/responses", data=body, headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["error"]["code"] == "rec_body_too_large"
    client = openai.OpenAI(base_url=small.url, api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as sdk_refused:
        client.responses.create(model="gpt-test", input="x" * (8 * 1024 * 1024))
    assert sdk_refused.value.status_code == 413 and "--limit body" in sdk_refused.value.message
    still_serves(small)


def test_what_a_refused_request_may_still_send_is_bounded(small: ReplayServer) -> None:
    """The rest of a refused body is thrown away only as far as the client said it would go: past that, cut off."""
    with socket.create_connection((small.host, small.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")
        with pytest.raises(OSError):  # a reset, once the server stops reading
            for _ in range(1024):
                sock.sendall(b"x" * 1024 * 1024)
    still_serves(small)


def test_a_zstd_bomb_is_refused_without_inflating_it(small: ReplayServer) -> None:
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB in a few kB
    assert len(bomb) < 4096
    status, _, answer = post(small, "/v1/responses", bomb, headers={"content-encoding": "zstd"})
    assert status == 413 and b"decoded_body" in answer
    still_serves(small)


def test_a_long_url_is_a_414_and_many_headers_a_431(small: ReplayServer) -> None:
    answer = exchange_bytes(small, b"GET /v1/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(answer) == 414
    headers = b"".join(b"x-h%d: v\r\n" % n for n in range(50))
    answer = exchange_bytes(small, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status_of(answer) == 431
    still_serves(small)


def test_a_request_that_never_finishes_is_a_408(small: ReplayServer) -> None:
    """Slowloris: the head starts and never ends; the server answers 408 and hangs up on its own."""
    answer = exchange_bytes(small, b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    assert status_of(answer) == 408
    still_serves(small)


def test_expect_100_continue_gets_its_100(small: ReplayServer) -> None:
    raw = json.dumps(GREETING).encode()
    with socket.create_connection((small.host, small.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(raw))
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(raw)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    with socket.create_connection((small.host, small.port), timeout=10) as sock:  # a body over the limit: not sent
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_malformed_http_is_a_400_and_counted(small: ReplayServer) -> None:
    answer = exchange_bytes(small, b"NOT HTTP AT ALL\r\n\r\n")
    assert status_of(answer) == 400
    still_serves(small)


# --- WebSocket ------------------------------------------------------------------------------


def test_a_permessage_deflate_bomb_closes_with_1009(small: ReplayServer) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (32 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    with open_websocket(small, deflate=True) as sock:
        sock.sendall(client_frame(bomb[:-4], rsv1=True))
        assert close_code(sock) == 1009
    still_serves(small)


def test_an_oversized_message_in_many_frames_closes_with_1009(small: ReplayServer) -> None:
    with open_websocket(small) as sock:
        # Nine fragments of 8 KiB pass the 64 KiB limit with the last one, so nothing is left unread.
        sock.sendall(b"".join(client_frame(b"x" * 8192, opcode=0 if n else 1, fin=False) for n in range(9)))
        assert close_code(sock) == 1009


def test_broken_frames_close_with_1002_and_bad_utf8_with_1007(small: ReplayServer) -> None:
    with open_websocket(small) as sock:
        sock.sendall(client_frame(b"{}", opcode=3))  # a reserved opcode
        assert close_code(sock) == 1002
    with open_websocket(small) as sock:
        sock.sendall(client_frame(b'{"type": "\xff"}'))
        assert close_code(sock) == 1007
    still_serves(small)


def test_a_message_that_is_not_an_object_uses_no_turn(serve: Any) -> None:
    turn = ({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]},
            text_events("resp_1", "hello"))
    other = serve([ws_exchange([turn], deflate=False)])
    with open_websocket(other) as sock:
        sock.sendall(client_frame(b"[1, 2]"))
        sock.sendall(client_frame(json.dumps(turn[0]).encode()))
        sock.settimeout(5)
        received = b""
        while b"response.completed" not in received:
            received += sock.recv(65536)
    assert b"not an object" in received
    other.finish()
    assert other.report.unused_events() == []  # the array took no turn: the real message got it


def test_a_message_far_over_the_limit_closes_with_1009_not_a_reset(small: ReplayServer) -> None:
    # A client that writes its whole message before reading: the server refuses it after its first 64 KiB,
    # and must read the rest before hanging up, or the client gets a reset in place of the close that says why.
    with open_websocket(small) as sock:
        sock.sendall(client_frame(b"x" * (32 * 1024 * 1024)))  # more than the sockets on both sides hold
        assert close_code(sock) == 1009
    still_serves(small)
