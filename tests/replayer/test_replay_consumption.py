"""Proof the client read its streams: a client that leaves a stream early is reported as `unconsumed`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import uvloop
from openai import OpenAI

from replayer.server import ReplayServer
from tests.replayer.builders import request_body, sse_exchange, text_events, user_message, ws_exchange

PACED = text_events("resp_1", "a slow answer in pieces", deltas=6)


def client_of(server: ReplayServer) -> OpenAI:
    return OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def read_one_event_and_leave(server: ReplayServer) -> None:
    """A client that reads the first event of a stream, closes it, and waits for the replayer to notice."""
    client = client_of(server)
    stream = client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True)
    assert next(iter(stream)).type == "response.created"
    stream.close()
    client.close()
    wait_for(lambda: server.report.unconsumed)


def test_a_client_that_closes_a_paced_stream_early_is_reported(serve: Any) -> None:
    # Long enough that the client leaves mid-stream though the SDK buffers the first events it reads.
    server = serve([sse_exchange(request_body([]), PACED, step_ms=300)], timing="recorded")
    read_one_event_and_leave(server)
    [event] = [e for e in server.report.events if e.kind == "unconsumed"]
    assert event.exchange == 0 and "disconnected before the end of the stream" in event.message
    assert server.report.summary()["unconsumed"] == 1


def test_a_client_that_leaves_a_large_stream_unread_is_reported(serve: Any) -> None:
    big = text_events("resp_big", "x" * 4_000_000, deltas=4000)  # more than the socket buffers hold
    server = serve([sse_exchange(request_body([]), big)])
    read_one_event_and_leave(server)
    assert server.report.unconsumed == 1


def test_streams_read_to_the_end_are_not_reported(serve: Any) -> None:
    exchanges = [sse_exchange(request_body([]), text_events(f"resp_{i}", "done", deltas=3)) for i in range(30)]
    server = serve([*exchanges, sse_exchange(request_body([]), PACED, step_ms=5)], timing="scale:1")
    client = client_of(server)
    for _ in range(31):
        with client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True) as stream:
            assert [e.type for e in stream][-1] == "response.completed"
    client.close()
    time.sleep(0.2)
    assert server.report.unconsumed == 0 and server.report.served == 31


def test_a_websocket_client_that_leaves_mid_turn_is_reported(serve: Any) -> None:
    turn = ({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]}, PACED)
    server = serve([ws_exchange([turn], step_ms=100)], timing="recorded")
    with client_of(server).responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        assert next(iter(connection)).type == "response.created"
    wait_for(lambda: server.report.unconsumed)
    [event] = [e for e in server.report.events if e.kind == "unconsumed"]
    assert "disconnected during WebSocket turn 0" in event.message and event.route == "GET /v1/responses"


def test_a_websocket_turn_read_to_the_end_is_not_reported(serve: Any) -> None:
    turn = ({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]}, PACED)
    server = serve([ws_exchange([turn], step_ms=5)], timing="recorded")
    with client_of(server).responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        for event in connection:  # the socket stays open after a turn: stop at its end
            if event.type == "response.completed":
                break
    time.sleep(0.2)
    assert server.report.unconsumed == 0


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_client_that_hangs_up_just_before_the_server_stops_is_still_reported(loop_factory: Any) -> None:
    big = text_events("resp_big", "x" * 4_000_000, deltas=4000)  # more than the socket buffers hold
    raw = json.dumps(request_body([])).encode()

    async def main() -> int:
        # Client and server on one loop: the server has not polled the hang-up when it is asked to stop.
        server = await ReplayServer([sse_exchange(request_body([]), big)]).start()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(raw), raw))
        assert (await reader.read(4096)).startswith(b"HTTP/1.1 200")
        writer.transport.abort()  # most of the stream unread: an RST
        return (await server.aclose()).unconsumed

    assert asyncio.run(main(), loop_factory=loop_factory) == 1
