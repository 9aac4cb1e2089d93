"""An exchange the upstream never answered replays as the live client saw it through the recorder: a 502, a close."""

from __future__ import annotations

import http.client
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rec.cassette import End, HttpExchange, Request, load_cassette
from replayer.server import ReplayServer
from tests.recorder.support import recording
from tests.support.upstream import raw_upstream

BODY = b'{"model": "gpt-test", "input": "hi"}'


def ask(url: str) -> tuple[int, str, str | None, bytes, bool]:
    """POST to a base URL: status, reason, Connection header, body, and whether the server closed after it."""
    host, _, port = url.split("//")[1].split("/")[0].rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("POST", "/v1/responses", body=BODY, headers={"content-type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        return response.status, response.reason, response.getheader("connection"), body, response.will_close
    finally:
        connection.close()


def test_an_exchange_without_a_response_is_the_recorders_502_then_a_close(serve: Any) -> None:
    message = "Cannot parse HTTP response: Bad HTTP response line: b'<garbage>'"
    never = HttpExchange(request=Request(method="POST", path="/v1/responses", body=BODY), response=None,
                         end=End(state="error", error="cut", message=message, at_ms=3.0))
    server = serve([never])
    status, reason, connection, body, closed = ask(server.url)
    assert (status, reason, connection, closed) == (502, "Bad Gateway", "close", True)
    assert b"&lt;garbage&gt;" in body and body.startswith(b"<html>")
    assert server.report.served == 1


def never_answer(mode: str) -> Callable[[socket.socket], None]:
    """An upstream's answer to every request: garbage, or a reset, before any header."""
    def answer(connection: socket.socket) -> None:
        if mode == "garbage":
            connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        else:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return answer


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["garbage", "reset"])
def test_an_upstream_that_never_answered_replays_as_the_client_saw_it_live(tmp_path: Path, mode: str) -> None:
    cassette = tmp_path / f"{mode}.mpk"
    with raw_upstream(never_answer(mode)) as upstream, recording(upstream, cassette) as recorder:
        live = ask(recorder.url)
    [exchange] = load_cassette(cassette).exchanges
    assert isinstance(exchange, HttpExchange) and exchange.response is None
    with ReplayServer.from_cassettes([cassette]) as server:
        replayed = ask(server.url)
    assert live[0] == 502 and replayed == live
