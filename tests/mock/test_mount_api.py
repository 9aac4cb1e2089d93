"""The Codex harness's mount API, ported: the openai SDK as the client, the mounts as the server.

Each test follows a harness usage: mount answers, drive a real client, then read what the
server saw with the request helpers; ``verify()`` (run when the server closes) fails on a
violation, an unmatched request or a sequence not used exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from rec.synth.events import (
    ev_assistant_message,
    ev_completed,
    ev_function_call,
    ev_output_text_delta,
    ev_response_created,
    sse,
    sse_failed,
    user_message_item,
)
from rec.testing.mock import (
    MockServer,
    ResponseTemplate,
    WebSocketConnectionConfig,
    body_contains,
    header_is,
    mount_compact_json_once,
    mount_compact_json_once_match,
    mount_function_call_agent_response,
    mount_models_once_with_delay,
    mount_models_once_with_etag,
    mount_response_sequence,
    mount_sse_once,
    mount_sse_once_match,
    mount_sse_sequence,
    sse_response,
    start_mock_server,
    start_websocket_server,
    start_websocket_server_with_headers,
)


@pytest.fixture
def server() -> Iterator[MockServer]:
    server = start_mock_server()
    yield server
    server.close(verify=False)  # each test verifies explicitly, so a failure names its own cause


def client_for(server: MockServer, **options: Any) -> OpenAI:
    return OpenAI(base_url=server.url, api_key="sk-test", max_retries=options.pop("max_retries", 0), **options)


def run_turn(client: OpenAI, input_items: list[Any]) -> list[Any]:
    """One streamed turn; the output items of response.output_item.done, or None if the stream ended early."""
    items: list[Any] = []
    with client.responses.create(model="gpt-test", input=input_items, stream=True) as stream:
        for event in stream:
            if event.type == "response.output_item.done":
                items.append(event.item.model_dump(exclude_none=True))
            if event.type == "response.failed":
                raise RuntimeError(event.response.error.message if event.response.error else "failed")
            if event.type == "response.completed":
                return items
    raise ConnectionError("stream closed before response.completed")


def agent_loop(client: OpenAI, prompt: str, tools: dict[str, Any]) -> list[list[Any]]:
    """A minimal agent: run each requested function, send its output, until a turn asks for none."""
    conversation: list[Any] = [user_message_item(prompt)]
    turns = []
    while True:
        items = run_turn(client, conversation)
        turns.append(items)
        calls = [item for item in items if item["type"] == "function_call"]
        if not calls:
            return turns
        conversation.extend(items)
        conversation.extend({"type": "function_call_output", "call_id": call["call_id"],
                             "output": tools[call["name"]](json.loads(call["arguments"]))} for call in calls)


def test_multi_turn_tool_call_second_request_carries_the_output(server: MockServer) -> None:
    mocks = mount_function_call_agent_response(server, "call-1", '{"cmd": "ls"}', "shell")
    turns = agent_loop(client_for(server), "list files", {"shell": lambda args: f"ran {args['cmd']}"})
    assert turns[-1][0]["content"][0]["text"] == "done"
    assert mocks.function_call.single_request().message_input_texts("user") == ["list files"]
    second = mocks.completion.single_request()
    assert second.has_function_call("call-1")
    assert second.function_call_output_text("call-1") == "ran ls"
    assert mocks.completion.function_call_output_text("call-1") == "ran ls"
    server.verify()


def test_parallel_tool_calls_are_both_answered(server: MockServer) -> None:
    mock = mount_sse_sequence(server, [
        sse([ev_response_created("r1"), ev_function_call("call-a", "read", '{"path": "a"}'),
             ev_function_call("call-b", "read", '{"path": "b"}'), ev_completed("r1")]),
        sse([ev_response_created("r2"), ev_assistant_message("m1", "read both"), ev_completed("r2")]),
    ])
    agent_loop(client_for(server), "read a and b", {"read": lambda args: f"contents of {args['path']}"})
    first, second = mock.requests()
    assert first.inputs_of_type("function_call_output") == []
    assert [item["call_id"] for item in second.inputs_of_type("function_call_output")] == ["call-a", "call-b"]
    assert mock.saw_function_call("call-a") and mock.saw_function_call("call-b")
    assert mock.function_call_output_text("call-b") == "contents of b"
    server.verify()


def test_compaction_turn(server: MockServer) -> None:
    summary = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "summary of it all"}]}
    other = mount_compact_json_once_match(server, body_contains("never sent"), {"output": []})
    compact = mount_compact_json_once(server, {"id": "cmp_1", "object": "response.compaction", "created_at": 0,
                                               "output": [summary], "usage": {"input_tokens": 9, "output_tokens": 3,
                                                                              "total_tokens": 12}})
    follow_up = mount_sse_once(server, sse([ev_response_created("r1"), ev_assistant_message("m1", "ok"),
                                            ev_completed("r1")]))
    client = client_for(server)
    history = [user_message_item("a long conversation")]
    compacted = client.responses.compact(model="gpt-test", input=history)
    carried = [item.model_dump(exclude_none=True, warnings=False) for item in compacted.output]
    run_turn(client, [*carried, user_message_item("next")])
    assert compact.single_request().path() == "/v1/responses/compact"
    assert compact.single_request().message_input_texts("user") == ["a long conversation"]
    assert carried[0]["content"][0]["text"] == "summary of it all"
    assert follow_up.single_request().message_input_texts("user") == ["summary of it all", "next"]
    assert other.requests() == []
    server.verify()


def test_retry_after_failed_and_cut_streams(server: MockServer) -> None:
    mock = mount_sse_sequence(server, [
        sse_failed("r1", "server_error", "the model crashed"),
        sse([ev_response_created("r2"), ev_output_text_delta("par")]),  # closed before response.completed
        sse([ev_response_created("r3"), ev_assistant_message("m3", "third time"), ev_completed("r3")]),
    ])
    client = client_for(server)
    errors = []
    for _attempt in range(3):
        try:
            items = run_turn(client, [user_message_item("hi")])
            break
        except (RuntimeError, ConnectionError) as err:
            errors.append(str(err))
    assert errors == ["the model crashed", "stream closed before response.completed"]
    assert items[0]["content"][0]["text"] == "third time"
    assert len(mock.requests()) == 3
    server.verify()


def test_sdk_retries_a_500_from_a_response_sequence(server: MockServer) -> None:
    error = {"error": {"type": "server_error", "message": "overloaded", "code": None, "param": None}}
    mock = mount_response_sequence(server, [
        ResponseTemplate(status=500, json_body=error),
        sse_response(sse([ev_response_created("r1"), ev_assistant_message("m1", "hello"), ev_completed("r1")])),
    ])
    client = client_for(server, max_retries=1)
    assert run_turn(client, [user_message_item("hi")])[0]["content"][0]["text"] == "hello"
    assert [r.header("x-stainless-retry-count") for r in mock.requests()] == ["0", "1"]
    server.verify()


def test_once_match_picks_the_mount_by_content_and_header(server: MockServer) -> None:
    by_header = mount_sse_once_match(server, header_is("x-team", "blue"),
                                     sse([ev_response_created("rb"), ev_assistant_message("mb", "blue"),
                                          ev_completed("rb")]))
    by_body = mount_sse_once_match(server, body_contains("weather"),
                                   sse([ev_response_created("rw"), ev_assistant_message("mw", "sunny"),
                                        ev_completed("rw")]))
    assert run_turn(client_for(server), [user_message_item("the weather?")])[0]["content"][0]["text"] == "sunny"
    blue = client_for(server, default_headers={"x-team": "blue"})
    assert run_turn(blue, [user_message_item("anything")])[0]["content"][0]["text"] == "blue"
    assert by_body.single_request().body_contains_text("weather")
    assert by_header.single_request().header("x-team") == "blue"
    server.verify()


def test_models_with_etag_and_delay(server: MockServer) -> None:
    listing = {"object": "list", "data": [{"id": "gpt-test", "object": "model", "created": 0, "owned_by": "rec"}]}
    etag = mount_models_once_with_etag(server, listing, '"v42"')
    client = client_for(server)
    raw = client.models.with_raw_response.list()
    assert raw.headers["etag"] == '"v42"'
    assert [model.id for model in raw.parse()] == ["gpt-test"]
    assert etag.single_request_path() == "/v1/models"
    mount_models_once_with_delay(server, listing, 0.3)
    started = time.monotonic()
    client.models.list()
    assert time.monotonic() - started >= 0.3
    server.verify()


def test_start_mock_server_has_an_empty_models_list(server: MockServer) -> None:
    assert client_for(server).models.with_raw_response.list().http_response.json() == {"models": []}
    server.verify()


def test_a_violation_is_a_400_for_the_client_and_fails_verify(server: MockServer) -> None:
    mount_sse_once(server, sse([ev_response_created("r1"), ev_completed("r1")]))
    orphan = {"type": "function_call_output", "call_id": "call-ghost", "output": "?"}
    with pytest.raises(openai.BadRequestError, match="call-ghost"):
        client_for(server).responses.create(model="gpt-test", input=[user_message_item("hi"), orphan])
    with pytest.raises(AssertionError, match="call-ghost"):
        server.verify()


def test_a_sequence_used_short_fails_verify(server: MockServer) -> None:
    mount_sse_sequence(server, [sse([ev_response_created("r1"), ev_completed("r1")]),
                                sse([ev_response_created("r2"), ev_completed("r2")])])
    run_turn(client_for(server), [user_message_item("only once")])
    with pytest.raises(AssertionError, match="expected 2 request"):
        server.verify()


def test_a_request_with_no_mount_left_fails_verify(server: MockServer) -> None:
    mount_sse_once(server, sse([ev_response_created("r1"), ev_completed("r1")]))
    client = client_for(server)
    run_turn(client, [user_message_item("one")])
    with pytest.raises(openai.ConflictError):
        run_turn(client, [user_message_item("two")])
    with pytest.raises(AssertionError, match="unmatched"):
        server.verify()


def read_until_completed(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "error"):
            return events
    raise AssertionError("the connection closed before response.completed")


def test_websocket_prewarm_then_a_turn_on_the_same_connection() -> None:
    server = start_websocket_server_with_headers([WebSocketConnectionConfig(
        requests=[
            [ev_response_created("warm"), ev_completed("warm")],
            [ev_response_created("r1"), ev_assistant_message("m1", "hello over ws"), ev_completed("r1")],
        ],
        response_headers=[("x-reasoning-included", "true"), ("openai-model", "gpt-test")],
        accept_delay_s=0.05,
    )])
    try:
        client = client_for(server)
        headers = {"x-codex-turn-metadata": '{"turn": 1}', "openai-beta": "responses_websockets=2026-02-06"}
        with client.responses.connect(extra_headers=headers) as connection:
            connection.response.create(model="gpt-test", input=[user_message_item("hi")], generate=False)
            assert read_until_completed(connection)[-1].response.id == "warm"
            connection.response.create(model="gpt-test", input=[user_message_item("hi")])
            events = read_until_completed(connection)
        done = [e.item for e in events if e.type == "response.output_item.done"]
        assert done[0].content[0].text == "hello over ws" and events[-1].response.id == "r1"
        assert server.log.wait_for_handshakes(1, timeout=1.0)
        handshake = server.log.single_handshake()
        assert handshake.header("authorization") == "Bearer sk-test"
        assert handshake.header("x-codex-turn-metadata") == '{"turn": 1}'
        assert handshake.header("openai-beta") == "responses_websockets=2026-02-06"
        prewarm, turn = server.log.single_connection()
        assert prewarm.body_json()["generate"] is False
        assert "generate" not in turn.body_json()
    finally:
        server.close(verify=False)
    server.verify()


def test_websocket_server_serves_connections_in_order() -> None:
    server = start_websocket_server([
        [[ev_response_created("a1"), ev_completed("a1")]],
        [[ev_response_created("b1"), ev_completed("b1")]],
    ])
    try:
        client = client_for(server)
        seen = []
        for _ in range(2):
            with client.responses.connect() as connection:
                connection.response.create(model="gpt-test", input=[user_message_item("hi")])
                seen.append(read_until_completed(connection)[-1].response.id)
        assert seen == ["a1", "b1"]
        assert len(server.log.connections()) == 2 and len(server.log.handshakes()) == 2
    finally:
        server.close(verify=False)
    server.verify()
