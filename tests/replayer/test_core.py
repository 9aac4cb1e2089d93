"""The replay core without a transport: requests in as data, answers and refusals out, the report in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from rec.cassette import HttpExchange, IndexedRecord, WebSocketExchange, index_cassette
from replayer.answers import BodyAnswer, HttpAnswer, StreamAnswer, sse_answer
from replayer.core import ReplayCore, WebSocketConversation
from replayer.errors import Refused
from replayer.match_modes import UNKEYED
from replayer.matching import Rule
from replayer.request_log import ResponsesRequest
from replayer.routes import ENDPOINTS, PathPattern, endpoint_of, route_of
from tests.replayer.builders import (
    json_exchange,
    request_body,
    sse_event,
    sse_exchange,
    text_events,
    tool_call_events,
    user_message,
    write,
    ws_exchange,
)


def core_with(*exchanges: HttpExchange | WebSocketExchange, **options: Any) -> ReplayCore:
    core = ReplayCore(**options)
    core.matcher.add_exchanges(exchanges)
    return core


def post(core: ReplayCore, body: Any, path: str = "/v1/responses") -> HttpAnswer:
    return core.handle_http(ResponsesRequest("POST", path, [("content-type", "application/json")],
                                             json.dumps(body).encode()))


def error_of(answer: HttpAnswer) -> dict[str, Any]:
    assert isinstance(answer, BodyAnswer)
    error = orjson.loads(answer.immediate.split(b"\r\n\r\n", 1)[1])["error"]
    assert set(error) == {"message", "type", "code", "param"}  # the API's shape, always
    return error


# --- handle_http ---------------------------------------------------------------------------


def test_a_recorded_stream_is_served_and_counted() -> None:
    body = request_body([user_message("hi")])
    core = core_with(sse_exchange(body, text_events("resp_1", "hello")))
    answer = post(core, body)
    assert isinstance(answer, StreamAnswer) and answer.status == 200
    assert b"resp_1" in (answer.immediate or b"")
    assert core.report.served == 1 and core.finish().events == []


def test_an_unknown_route_is_a_404_naming_the_recorded_routes() -> None:
    core = core_with(sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "hello")))
    answer = core.handle_http(ResponsesRequest("GET", "/v1/modls", [], b""))
    error = error_of(answer)
    assert answer.status == 404 and error["code"] == "rec_unknown_route"
    assert "recorded routes: POST /v1/responses" in error["message"]
    assert [event.kind for event in core.report.events] == ["unmatched"]


def test_a_body_that_is_not_json_is_a_400_and_uses_up_nothing() -> None:
    body = request_body([user_message("hi")])
    core = core_with(sse_exchange(body, text_events("resp_1", "hello")))
    answer = core.handle_http(ResponsesRequest("POST", "/v1/responses", [], b"{not json"))
    assert answer.status == 400 and error_of(answer)["code"] == "rec_bad_request"
    assert post(core, body).status == 200  # the recorded exchange is still there


def test_an_exhausted_route_is_a_409_the_sdk_does_not_retry() -> None:
    body = request_body([user_message("hi")])
    core = core_with(sse_exchange(body, text_events("resp_1", "hello")))
    post(core, body)
    answer = post(core, body)
    assert answer.status == 409 and error_of(answer)["code"] == "rec_no_match"
    assert b"x-should-retry: false" in (answer.immediate or b"")


def test_a_tool_output_without_its_call_is_refused_as_an_invariant_violation() -> None:
    body = request_body([{"type": "function_call_output", "call_id": "call_9", "output": "42"}])
    core = core_with(sse_exchange(body, text_events("resp_1", "hello")))
    answer = post(core, body)
    error = error_of(answer)
    assert answer.status == 400 and error["code"] == "rec_invariant_violation"
    assert error["type"] == "invalid_request_error" and "call_9" in error["message"]


def test_a_chain_through_a_served_answer_is_valid() -> None:
    first = request_body([user_message("run it")])
    second = request_body([{"type": "function_call_output", "call_id": "call_1", "output": "ok"}],
                          previous_response_id="resp_1")
    core = core_with(sse_exchange(first, tool_call_events("resp_1", "call_1", "shell", "{}")),
                     sse_exchange(second, text_events("resp_2", "done")))
    assert post(core, first).status == 200
    assert post(core, second).status == 200
    assert core.finish().events == []


def test_drift_is_reported_and_the_answer_still_served() -> None:
    core = core_with(sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "hello")))
    answer = post(core, request_body([user_message("hello there")]))
    assert answer.status == 200
    [drift] = core.report.events
    assert drift.kind == "drift" and "input" in drift.message


def test_a_mounted_rule_with_a_path_parameter_serves_every_id() -> None:
    core = ReplayCore()
    core.matcher.mount(Rule("GET", "/v1/responses/{response_id}", [sse_answer(sse_event({"type": "x"}))],
                            repeat=True))
    for response_id in ("resp_a", "resp_b"):
        assert core.handle_http(ResponsesRequest("GET", f"/v1/responses/{response_id}", [], b"")).status == 200
    assert core.handle_http(ResponsesRequest("GET", "/v1/responses/resp_a/input_items", [], b"")).status == 404


# --- open_session / answer_message ---------------------------------------------------------


def test_a_websocket_conversation_answers_each_message_with_its_turn() -> None:
    first = {"type": "response.create", **request_body([user_message("a")])}
    second = {"type": "response.create", **request_body([user_message("b")]), "previous_response_id": "resp_a"}
    core = core_with(ws_exchange([(first, text_events("resp_a", "A")), (second, text_events("resp_b", "B"))]))
    session = core.open_session("GET", "/v1/responses", [("upgrade", "websocket")])
    assert isinstance(session, WebSocketConversation)
    plans = [session.answer_message(json.dumps(first)), session.answer_message(json.dumps(second))]
    assert [plan.match.number for plan in plans] == [0, 1]
    assert b"resp_b" in plans[1].frames[-1].payload and plans[1].last
    assert core.finish().events == []


def test_a_websocket_message_that_is_not_an_object_is_refused_as_an_error_event() -> None:
    message = {"type": "response.create", **request_body([user_message("a")])}
    core = core_with(ws_exchange([(message, text_events("resp_a", "A"))]))
    session = core.open_session("GET", "/v1/responses", [])
    assert isinstance(session, WebSocketConversation)
    with pytest.raises(Refused) as refused:
        session.answer_message("[1, 2]")
    event = refused.value.event()
    assert event["type"] == "error" and event["status"] == 400 and event["error"]["code"] == "rec_bad_request"
    assert session.answer_message(json.dumps(message)).match.number == 0  # the turn was not used up


def test_an_upgrade_on_an_unrecorded_route_is_an_http_refusal() -> None:
    core = core_with(json_exchange("GET", "/v1/models", {"data": []}))
    answer = core.open_session("GET", "/v1/responses", [])
    assert isinstance(answer, HttpAnswer) and answer.status == 404


# --- routes --------------------------------------------------------------------------------


def test_routes_strip_v1_and_the_query() -> None:
    assert route_of("post", "/v1/responses?x=1") == ("POST", "/responses")
    assert route_of("GET", "/models") == route_of("GET", "/v1/models")


@pytest.mark.parametrize(("method", "path", "name", "params"), [
    ("POST", "/responses", "responses.create", {}),
    ("POST", "/responses/compact", "responses.compact", {}),
    ("GET", "/responses/resp_1", "responses.retrieve", {"response_id": "resp_1"}),
    ("POST", "/responses/resp_1/cancel", "responses.cancel", {"response_id": "resp_1"}),
    ("GET", "/responses/resp_1/input_items", "responses.input_items.list", {"response_id": "resp_1"}),
    ("GET", "/conversations/conv_1/items", "conversations.items.list", {"conversation_id": "conv_1"}),
    ("GET", "/models/gpt-5", "models.retrieve", {"model": "gpt-5"}),
])
def test_every_known_endpoint_is_one_entry_with_its_parameters(method: str, path: str, name: str,
                                                               params: dict[str, str]) -> None:
    found = endpoint_of(route_of(method, path))
    assert found is not None and (found.endpoint.name, found.params) == (name, params)


def test_azure_paths_reach_the_same_endpoints() -> None:
    found = endpoint_of(route_of("POST", "/openai/v1/responses?api-version=preview"))
    assert found is not None and found.endpoint.name == "responses.create"
    found = endpoint_of(route_of("GET", "/openai/responses/resp_1"))
    assert found is not None and found.params == {"response_id": "resp_1"}


def test_other_routes_are_served_as_recorded_without_an_endpoint() -> None:
    assert endpoint_of(route_of("GET", "/v1/files/file_1")) is None
    assert endpoint_of(route_of("GET", "/v1/responses/a/b/c")) is None
    assert len({endpoint.name for endpoint in ENDPOINTS}) == len(ENDPOINTS)


def test_a_path_parameter_is_one_segment() -> None:
    pattern = PathPattern("/sessions/{id}/report")
    assert pattern.match("/sessions/abc/report") == {"id": "abc"}
    assert pattern.match("/sessions/a/b/report") is None
    assert PathPattern("/a.b").match("/aXb") is None  # literal text is literal


# --- the API's state and queries -----------------------------------------------------------


def get(core: ReplayCore, target: str) -> HttpAnswer:
    return core.handle_http(ResponsesRequest("GET", target, [], b""))


def test_a_tool_loop_on_a_conversation_is_valid() -> None:
    conversation = json_exchange("POST", "/v1/conversations", {"id": "conv_1", "object": "conversation"}, body={})
    first = request_body([user_message("run it")], conversation="conv_1")
    second = request_body([{"type": "function_call_output", "call_id": "call_1", "output": "ok"}],
                          conversation="conv_1")
    core = core_with(conversation, sse_exchange(first, tool_call_events("resp_1", "call_1", "shell", "{}")),
                     sse_exchange(second, text_events("resp_2", "done")))
    assert [post(core, {}, "/v1/conversations").status, post(core, first).status, post(core, second).status] == [
        200, 200, 200]
    assert core.finish().events == []


def test_a_background_response_chained_after_polling_is_valid() -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "shell", "arguments": "{}",
            "status": "completed"}
    create = request_body([user_message("run it")], background=True, stream=False)
    queued = {"id": "resp_1", "object": "response", "status": "queued", "output": []}
    done = {**queued, "status": "completed", "output": [call]}
    follow = request_body([{"type": "function_call_output", "call_id": "call_1", "output": "ok"}],
                          previous_response_id="resp_1")
    core = core_with(json_exchange("POST", "/v1/responses", queued, body=create),
                     json_exchange("GET", "/v1/responses/resp_1", queued),
                     json_exchange("GET", "/v1/responses/resp_1", done),
                     sse_exchange(follow, text_events("resp_2", "done")))
    assert post(core, create).status == 200
    assert [get(core, "/v1/responses/resp_1").status for _ in range(2)] == [200, 200]
    assert post(core, follow).status == 200
    assert core.finish().events == []


def test_a_query_that_differs_is_drift_naming_the_parameter() -> None:
    core = core_with(sse_exchange(b"", text_events("resp_1", "hi"), method="GET",
                                  path="/v1/responses/resp_1?stream=true&starting_after=5"))
    assert get(core, "/v1/responses/resp_1?stream=true&starting_after=8").status == 200
    [drift] = core.report.events
    assert drift.kind == "drift" and "query starting_after: recorded 5, received 8" in drift.message


def test_body_mode_matches_on_the_query() -> None:
    recorded = [sse_exchange(b"", text_events(f"resp_{n}", "hi"), method="GET",
                             path=f"/v1/responses/resp_1?starting_after={n}") for n in (5, 8)]
    core = core_with(*recorded, match="body")
    assert b"resp_8" in (get(core, "/v1/responses/resp_1?starting_after=8").immediate or b"")
    missed = get(core, "/v1/responses/resp_1?starting_after=9")
    assert missed.status == 409 and "with this normalized query" in error_of(missed)["message"]
    assert b"resp_5" in (get(core, "/v1/responses/resp_1?starting_after=5").immediate or b"")


def test_requests_out_of_recorded_order_are_one_event_with_the_fix() -> None:
    prompts = ["a", "b", "c"]
    core = core_with(*(sse_exchange(request_body([user_message(p)]), text_events(f"resp_{p}", p)) for p in prompts))
    for prompt in ("c", "a", "b"):
        assert post(core, request_body([user_message(prompt)])).status == 200
    [event] = core.report.events
    assert event.kind == "drift" and core.report.summary()["drifted"] == 3
    assert event.message.startswith("3 request(s) on POST /v1/responses arrived in another order than recorded")
    assert "--match body" in event.message


def test_a_request_that_is_no_recorded_one_is_plain_drift() -> None:
    core = core_with(*(sse_exchange(request_body([user_message(p)]), text_events(f"resp_{p}", p)) for p in "ab"))
    post(core, request_body([user_message("z")]))
    [event] = core.report.events
    assert event.kind == "drift" and "another order" not in event.message


# --- memory: what a served exchange leaves behind ------------------------------------------


def indexed_core(tmp_path: Path, exchanges: list[HttpExchange], keep: int, **options: Any) -> ReplayCore:
    """A core serving ``exchanges`` from their compressed records (as a large cassette is), keeping ``keep``
    decoded at a time."""
    core = ReplayCore(**options)
    core.matcher.cache.max_entries = keep
    _, records, _ = index_cassette(write(tmp_path / "big.mpk", exchanges), core.matcher.strategy.indexes_content)
    assert all(isinstance(record, IndexedRecord) for record in records)
    core.matcher.add_exchanges(records, source="big.mpk")
    return core


def test_a_long_replay_keeps_only_the_exchanges_in_use_decoded(tmp_path: Path) -> None:
    bodies = [request_body([user_message(f"prompt {n}")]) for n in range(12)]
    core = indexed_core(tmp_path, [sse_exchange(b, text_events(f"resp_{n}", f"answer {n}"))
                                   for n, b in enumerate(bodies)], keep=3)
    for n, body in enumerate(bodies):
        assert f"answer {n}".encode() in (post(core, body).immediate or b"")
        assert len(core.matcher.cache) <= 3
    assert sum(entry.decoded is not None for entry in core.matcher.recorded) <= 3
    assert core.finish().events == []


def test_a_chain_reads_answers_the_cache_let_go_of_again(tmp_path: Path) -> None:
    first = request_body([user_message("run it")])
    second = request_body([{"type": "function_call_output", "call_id": "call_1", "output": "ok"}],
                          previous_response_id="resp_1")
    others = [request_body([user_message(f"other {n}")]) for n in range(4)]
    exchanges = [sse_exchange(first, tool_call_events("resp_1", "call_1", "shell", "{}")),
                 *(sse_exchange(b, text_events(f"resp_o{n}", "x")) for n, b in enumerate(others)),
                 sse_exchange(second, text_events("resp_2", "done"))]
    core = indexed_core(tmp_path, exchanges, keep=1)
    for body in (first, *others):
        assert post(core, body).status == 200
    assert core.matcher.recorded[0].decoded is None  # resp_1's exchange is no longer decoded
    assert post(core, second).status == 200  # its call is read again from the recording
    broken = request_body([{"type": "function_call_output", "call_id": "call_9", "output": "ok"}],
                          previous_response_id="resp_1")
    assert post(core, broken).status == 400  # and still judged by it


@pytest.mark.parametrize("indexed", [True, False])
def test_body_mode_serves_requests_sent_as_recorded_without_normalizing_any(tmp_path: Path, indexed: bool) -> None:
    bodies = [request_body([user_message(f"prompt {n}")], prompt_cache_key=f"key {n}") for n in range(6)]
    exchanges = [sse_exchange(b, text_events(f"resp_{n}", f"answer {n}")) for n, b in enumerate(bodies)]
    core = indexed_core(tmp_path, exchanges, keep=2, match="body") if indexed else core_with(*exchanges, match="body")
    for n in (4, 1, 5):
        assert f"answer {n}".encode() in (post(core, bodies[n]).immediate or b"")
    assert all(entry.key is UNKEYED for entry in core.matcher.recorded)
    # A request that equals none byte for byte (prompt_cache_key is ignored): recorded requests are normalized
    # in recorded order as far as it needs, and the first unused one that matches serves it.
    assert b"answer 2" in (post(core, {**bodies[2], "prompt_cache_key": "new"}).immediate or b"")
    assert [entry.key is UNKEYED for entry in core.matcher.recorded] == [False] * 3 + [True] * 3
    for n in (0, 3):
        assert f"answer {n}".encode() in (post(core, {**bodies[n], "prompt_cache_key": "new"}).immediate or b"")
    assert core.finish().events == []


def test_body_mode_repeats_the_answer_a_request_got_last(tmp_path: Path) -> None:
    bodies = [request_body([user_message(p)]) for p in ("a", "b")]
    exchanges = [sse_exchange(b, text_events(f"resp_{p}", p)) for b, p in zip(bodies, "ab", strict=True)]
    core = indexed_core(tmp_path, exchanges, keep=1, match="body", repeat=True)
    for body in (*bodies, bodies[0], {**bodies[1], "prompt_cache_key": "new"}):
        answer = post(core, body)
        assert answer.status == 200
    assert b"resp_a" in (post(core, bodies[0]).immediate or b"")
    assert b"resp_b" in (post(core, {**bodies[1], "prompt_cache_key": "other"}).immediate or b"")


def test_an_open_websocket_keeps_its_recording_decoded_however_much_else_is_served(tmp_path: Path) -> None:
    bodies = [request_body([user_message(f"prompt {n}")]) for n in range(4)]
    turn = {"type": "response.create", **request_body([user_message("a")])}
    exchanges = [ws_exchange([(turn, text_events("resp_ws", "hi"))]),
                 *(sse_exchange(b, text_events(f"resp_{n}", "x")) for n, b in enumerate(bodies))]
    core = indexed_core(tmp_path, exchanges, keep=1)
    conversation = core.open_session("GET", "/v1/responses", [])
    assert isinstance(conversation, WebSocketConversation)
    for body in bodies:
        assert post(core, body).status == 200  # each pushes the one before out of the cache
    recorded = core.matcher.recorded[0]
    assert recorded.decoded is None and recorded.answer is conversation.answer  # found again, not decoded again
