"""WebSocket replay: the openai SDK's responses.connect(), deflate, chaining, errors as events."""

from __future__ import annotations

import json
import socket
from typing import Any

from openai import OpenAI
from websockets.sync.client import connect as ws_connect

from rec.cassette import Close, Response, WebSocketExchange
from replayer.server import ReplayServer
from tests.replayer.builders import json_exchange, text_events, tool_call_events, user_message, ws_exchange
from tests.replayer.client import post


def create(input_items: list[Any], **fields: Any) -> dict[str, Any]:
    return {"type": "response.create", "model": "gpt-test", "input": input_items, **fields}


def tool_conversation(**options: Any) -> WebSocketExchange:
    """Codex's WebSocket shape: a turn asking for a tool, then only the output with previous_response_id."""
    output = {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
    return ws_exchange([
        (create([user_message("run ls")]), tool_call_events("resp_1", "call_1", "exec_command", '{"cmd": "ls"}')),
        (create([output], previous_response_id="resp_1"), text_events("resp_2", "done")),
    ], **options)


def ws_url(server: ReplayServer) -> str:
    return f"ws://{server.host}:{server.port}/v1/responses"


def read_turn(ws: Any) -> list[dict[str, Any]]:
    """Events until one that ends a turn (completed or error)."""
    events = []
    while True:
        event = json.loads(ws.recv(timeout=5))
        events.append(event)
        if event["type"] in ("response.completed", "error"):
            return events


def test_sdk_connect_replays_each_turn(serve: Any) -> None:
    server = serve([tool_conversation()])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("run ls")])
        first = []
        for event in connection:
            first.append(event)
            if event.type == "response.completed":
                break
        connection.response.create(model="gpt-test", previous_response_id="resp_1",
                                   input=[{"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}])
        text = []
        for event in connection:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            if event.type == "response.completed":
                break
    assert [e.type for e in first][-2:] == ["response.output_item.done", "response.completed"]
    assert "".join(text) == "done"
    handshake = server.log.single_handshake()
    assert handshake.path == "/v1/responses" and handshake.header("authorization") == "Bearer sk-test"
    messages = server.log.single_connection()
    assert [m.body_json()["type"] for m in messages] == ["response.create", "response.create"]
    assert server.report.ok and server.report.served == 3  # the handshake and two turns


def test_handshake_has_recorded_headers_and_deflate(serve: Any) -> None:
    server = serve([tool_conversation(headers=[("x-codex-turn-state", "abc")])])
    with ws_connect(ws_url(server), compression="deflate") as ws:
        assert ws.response.headers["x-codex-turn-state"] == "abc"
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        ws.send(json.dumps(create([user_message("run ls")])))
        assert read_turn(ws)[-1]["response"]["id"] == "resp_1"


def test_a_recorded_header_that_is_not_latin_1_goes_out_as_the_recorder_read_it(serve: Any) -> None:
    # The recorder reads header bytes as UTF-8: the same bytes go back on the wire, on an upgrade and over HTTP.
    server = serve([tool_conversation(headers=[("x-name", "Zoë €")]),
                    json_exchange("GET", "/v1/models", {"data": []}, headers=[("x-name", "Zoë €")])])
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/responses HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101") and "x-name: Zoë €".encode() in head
    status, headers, _ = post(server, "/v1/models", b"", method="GET")
    assert status == 200 and headers["x-name"].encode("latin-1").decode() == "Zoë €"


def test_no_deflate_when_the_recording_had_none(serve: Any) -> None:
    server = serve([tool_conversation(deflate=False)])
    with ws_connect(ws_url(server), compression="deflate") as ws:
        assert "sec-websocket-extensions" not in ws.response.headers


def test_chained_output_without_its_call_is_an_error_event(serve: Any) -> None:
    server = serve([tool_conversation()])
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("run ls")])))
        read_turn(ws)
        # The output names a call the chained response never made.
        ws.send(json.dumps(create([{"type": "function_call_output", "call_id": "call_X", "output": "a"}],
                                  previous_response_id="resp_1")))
        (error,) = read_turn(ws)
        assert error["type"] == "error" and error["status"] == 400
        assert error["error"]["code"] == "rec_invariant_violation"
        assert "call id call_X" in error["error"]["message"]
        # The server keeps serving: the right output still gets the recorded answer.
        ws.send(json.dumps(create([{"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}],
                                  previous_response_id="resp_1")))
        assert read_turn(ws)[-1]["response"]["id"] == "resp_2"
    assert server.report.violations == 1


def test_unknown_previous_response_id_is_an_error_event(serve: Any) -> None:
    server = serve([tool_conversation()])
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("hi")], previous_response_id="resp_unknown")))
        (error,) = read_turn(ws)
        assert error["error"]["code"] == "rec_invariant_violation" and "resp_unknown" in error["error"]["message"]


def test_text_frame_that_is_not_json_is_a_bad_request_event(serve: Any) -> None:
    server = serve([tool_conversation()])
    with ws_connect(ws_url(server)) as ws:
        ws.send("hello?")
        (error,) = read_turn(ws)
        assert error["status"] == 400 and error["error"]["code"] == "rec_bad_request"
        assert "not JSON" in error["error"]["message"]
        ws.send(json.dumps(create([user_message("run ls")])))
        assert read_turn(ws)[-1]["type"] == "response.completed"


def test_more_messages_than_recorded_turns_get_a_no_match_event(serve: Any) -> None:
    server = serve([ws_exchange([(create([user_message("hi")]), text_events("resp_1", "x"))])])
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("hi")])))
        read_turn(ws)
        ws.send(json.dumps(create([user_message("again")])))
        (error,) = read_turn(ws)
        assert error["status"] == 409 and error["error"]["code"] == "rec_no_match"
    assert server.report.unmatched == 1


def test_a_websocket_message_nothing_matches_names_the_closest_turn(serve: Any) -> None:
    server = serve([ws_exchange([(create([user_message("run ls")]), text_events("resp_1", "x")),
                                 (create([user_message("run pwd")]), text_events("resp_2", "y"))])], match="body")
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("run pwd -P")])))
        (error,) = read_turn(ws)
    assert error["error"]["code"] == "rec_no_match"
    assert ("the closest recorded request is turn 1 of exchange #0, which differs first at "
            '`input[0].content[0].text`: recorded "run pwd", received "run pwd -P"') in error["error"]["message"]


def test_recorded_server_close_is_replayed(serve: Any) -> None:
    exchange = ws_exchange([(create([user_message("hi")]), text_events("resp_1", "bye"))],
                           close=Close(code=4000, reason="recorded close", by="server", at_ms=100.0))
    server = serve([exchange])
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("hi")])))
        read_turn(ws)
        try:
            ws.recv(timeout=5)
        except Exception as err:  # websockets raises ConnectionClosed with the peer's close frame
            closed = err
        assert getattr(closed, "rcvd", None) is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (4000, "recorded close")  # type: ignore[attr-defined]


def test_recorded_426_to_an_upgrade_is_replayed_as_http(serve: Any) -> None:
    refused = WebSocketExchange(request=tool_conversation().request,
                                response=Response(status=426, headers=[("content-type", "application/json")],
                                                  chunks=[(1.0, b'{"error": "upgrade required"}')]))
    server = serve([refused])
    try:
        ws_connect(ws_url(server))
    except Exception as err:  # websockets' InvalidStatus carries the HTTP answer
        response = getattr(err, "response", None)
    assert response is not None and response.status_code == 426
    assert response.body == b'{"error": "upgrade required"}'


def test_body_mode_matches_turns_across_connections(serve: Any) -> None:
    first = ws_exchange([(create([user_message("alpha")]), text_events("resp_a", "A"))])
    second = ws_exchange([(create([user_message("beta")]), text_events("resp_b", "B"))])
    server = serve([first, second], match="body")
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("beta")])))
        assert read_turn(ws)[-1]["response"]["id"] == "resp_b"
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("alpha")])))
        assert read_turn(ws)[-1]["response"]["id"] == "resp_a"
    assert server.finish().summary()["unused"] == 0


def test_function_call_items_reach_the_request_log(serve: Any) -> None:
    server = serve([tool_conversation()])
    with ws_connect(ws_url(server)) as ws:
        ws.send(json.dumps(create([user_message("run ls")])))
        read_turn(ws)
    assert server.log.wait_for_handshakes(1, timeout=1)
    (message,) = server.log.single_connection()
    assert message.body_json()["input"] == [user_message("run ls")]
