"""Unit tests of the replayer's pieces, one section per module: no sockets, plain data in and out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rec.normalize import Normalizer
from replayer.answers import compile_exchange, json_answer
from replayer.conversation import Conversation
from replayer.echo import echo_payload, echo_swaps
from replayer.invariants import InvariantViolation
from replayer.lanes import LaneRouter, lane_of_client_message, lane_of_server_event
from replayer.limits import Limits
from replayer.match_modes import MatchMode
from replayer.matching import Matcher, NoMatch
from replayer.outcome import PYTEST, REPLAY_EXIT, REPORT_GATE, Policy, event_line
from replayer.pacing import parse_timing
from replayer.report import Report, ReportEvent
from replayer.request_log import ResponsesRequest
from replayer.routes import route_of
from replayer.served import Served
from tests.replayer.builders import request_body, sse_exchange, text_events, user_message, ws_exchange

# --- match_modes / matching ------------------------------------------------------------------


def test_match_mode_parse_names_a_bad_mode() -> None:
    assert MatchMode.parse("body") is MatchMode.body
    with pytest.raises(ValueError, match="unknown match mode 'bdy': use sequence or body"):
        MatchMode.parse("bdy")
    with pytest.raises(ValueError, match="'fuzzy'"):
        Matcher("fuzzy")


def prompts_matcher(mode: str, repeat: bool = False) -> Matcher:
    matcher = Matcher(mode, Normalizer(), repeat)
    matcher.add_exchanges([sse_exchange(request_body([user_message(p)]), text_events(f"resp_{p}", p))
                           for p in ("a", "b")])
    return matcher


def take(matcher: Matcher, prompt: str) -> int:
    body = request_body([user_message(prompt)])
    request = ResponsesRequest("POST", "/v1/responses", [], json.dumps(body).encode())
    _, entry, _, _ = matcher.take(route_of("POST", "/v1/responses"), request, body)
    assert entry is not None
    return entry.index


def test_sequence_hands_out_in_recorded_order_whatever_the_body() -> None:
    matcher = prompts_matcher("sequence")
    assert [take(matcher, "b"), take(matcher, "a")] == [0, 1]
    with pytest.raises(NoMatch, match="no recorded answer left"):
        take(matcher, "a")


def test_body_hands_out_by_normalized_body_and_explains_a_miss() -> None:
    matcher = prompts_matcher("body")
    assert [take(matcher, "b"), take(matcher, "a")] == [1, 0]
    with pytest.raises(NoMatch, match=r"with this normalized body.*closest recorded request"):
        take(matcher, "c")


def test_give_back_puts_an_exchange_first_in_line_for_either_mode() -> None:
    for mode in ("sequence", "body"):
        matcher = prompts_matcher(mode)
        take(matcher, "a")
        matcher.give_back(matcher.recorded[0])
        assert take(matcher, "a") == 0


def test_repeat_in_body_mode_reuses_the_prompts_own_answer() -> None:
    matcher = prompts_matcher("body", repeat=True)
    assert [take(matcher, "a"), take(matcher, "b"), take(matcher, "a"), take(matcher, "b")] == [0, 1, 0, 1]


def test_route_of_strips_v1_and_the_query() -> None:
    assert route_of("post", "/v1/responses?x=1") == ("POST", "/responses")
    assert route_of("GET", "/models") == ("GET", "/models")


# --- lanes ------------------------------------------------------------------------------------


def test_frames_are_attributed_to_lanes_by_stream_id_and_steer_target() -> None:
    lane_of_response: dict[str, str] = {}
    created = json.dumps({"type": "response.created", "stream_id": "s2", "response": {"id": "resp_9"}}).encode()
    assert lane_of_server_event(created, lane_of_response) == "s2" and lane_of_response == {"resp_9": "s2"}
    steer = json.dumps({"type": "response.steer", "previous_response_id": "resp_9"}).encode()
    assert lane_of_client_message(steer, lane_of_response) == "s2"
    assert lane_of_client_message(b'{"type": "response.create"}', lane_of_response) is None


def test_a_client_lane_binds_to_the_recorded_lane_with_the_same_next_request() -> None:
    turns = [({"type": "response.create", "stream_id": "x", "input": [user_message("one")]}, []),
             ({"type": "response.create", "stream_id": "y", "input": [user_message("two")]}, [])]
    answer = compile_exchange(ws_exchange(turns))
    router = LaneRouter(answer.turns, lambda body: json.dumps(body.get("input"), sort_keys=True).encode())  # type: ignore[attr-defined]
    assert router.pick({"type": "response.create", "stream_id": "mine", "input": [user_message("two")]}) == 1
    assert router.client_name("y") == "mine"
    assert router.pick({"type": "response.create", "stream_id": "mine", "input": [user_message("two")]}) is None


# --- conversation -----------------------------------------------------------------------------


def test_a_conversation_follows_chains_lazily_and_knows_what_the_recording_carried() -> None:
    parsed: list[str] = []

    class Answer:
        def __init__(self, response_id: str, output: list[Any]) -> None:
            self.response_id, self.output = response_id, output

        @property
        def served(self) -> Served:
            parsed.append(self.response_id)
            return Served(self.response_id, tuple(self.output))

    def served(response_id: str, output: list[Any]) -> Answer:
        return Answer(response_id, output)

    def call(n: int) -> dict[str, Any]:
        return {"type": "function_call", "call_id": f"c{n}", "name": "f", "arguments": "{}"}

    def output(n: int) -> dict[str, Any]:
        return {"type": "function_call_output", "call_id": f"c{n}", "output": "ok"}

    conversation = Conversation(recorded_before=lambda rid: rid == "resp_old")
    conversation.remember(json.dumps({"input": [output(0), "q1"]}).encode(), served("resp_1", [call(1), "a1"]))
    assert parsed == []  # nothing is read until a chain needs it
    conversation.remember(json.dumps({"input": [output(1)], "previous_response_id": "resp_1"}).encode(),
                          served("resp_2", [call(2)]))
    history = conversation.history({"previous_response_id": "resp_2"})
    # Only the items that pair up are kept: they are what a request is judged by.
    assert sorted(item["call_id"] for item in history.items) == ["c0", "c1", "c1", "c2"] and history.complete
    assert parsed == ["resp_1", "resp_2"]
    assert not conversation.history({"previous_response_id": "resp_old"}).complete
    with pytest.raises(InvariantViolation, match="resp_unknown"):
        conversation.history({"previous_response_id": "resp_unknown"})


def test_a_background_response_learns_its_output_from_a_retrieve() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    conversation = Conversation()
    conversation.remember(b'{"input": "go", "background": true}', json_answer({"id": "resp_1", "object": "response",
                                                                              "status": "queued", "output": []}))
    assert conversation.history({"previous_response_id": "resp_1"}).items == []
    retrieved = json_answer({"id": "resp_1", "object": "response", "status": "completed", "output": [call]})
    conversation.remember(b"", retrieved, "response", "resp_1")
    assert conversation.history({"previous_response_id": "resp_1"}).items == [call]


def test_a_conversation_holds_its_items_and_every_response_created_on_it() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    seeded = {"type": "function_call", "call_id": "c0", "name": "f", "arguments": "{}"}
    conversation = Conversation()
    conversation.remember(json.dumps({"items": [seeded]}).encode(),
                          json_answer({"id": "conv_1", "object": "conversation"}), "conversation")
    conversation.remember(b'{"input": "go", "conversation": "conv_1"}',
                          json_answer({"id": "resp_1", "object": "response", "output": [call]}))
    history = conversation.history({"conversation": {"id": "conv_1"}})
    assert history.complete and sorted(item["call_id"] for item in history.items) == ["c0", "c1"]
    # A conversation this replay never saw began outside it: its items are unknown, not empty.
    assert not conversation.history({"conversation": "conv_other"}).complete


# --- echo -------------------------------------------------------------------------------------


def test_echo_swaps_only_fields_the_client_sent_differently() -> None:
    recorded = {"prompt_cache_key": "old", "user": "u", "metadata": {"a": 1}}
    swaps = echo_swaps(recorded, {"prompt_cache_key": "new", "metadata": {"a": 1}})
    assert swaps == {"prompt_cache_key": ("old", "new")}
    event = json.dumps({"type": "response.completed", "response": {"prompt_cache_key": "old", "user": "u"}}).encode()
    assert json.loads(echo_payload(event, swaps))["response"] == {"prompt_cache_key": "new", "user": "u"}
    assert echo_payload(b"not json", swaps) == b"not json"


def test_a_json_answer_that_is_a_response_object_serves_its_id_and_output() -> None:
    answer = json_answer({"id": "resp_1", "object": "response", "output": [{"type": "message"}]})
    assert answer.served == Served("resp_1", ({"type": "message"},))
    assert json_answer({"object": "list", "data": []}).served == Served(None, ())


# --- limits, pacing, outcome ------------------------------------------------------------------


def test_limits_take_sizes_and_seconds_and_name_a_bad_setting() -> None:
    limits = Limits().with_settings(["body=2MiB", "request_timeout=500ms", "headers=10"])
    assert (limits.body, limits.request_timeout, limits.headers) == (2 * 1024**2, 0.5, 10)
    with pytest.raises(ValueError, match="unknown limit 'bodyy'"):
        Limits().with_settings(["bodyy=1"])
    with pytest.raises(ValueError, match="a size"):
        Limits().with_settings(["body=5s"])
    with pytest.raises(ValueError, match="seconds"):
        Limits().with_settings(["idle_timeout=3MiB"])


def test_parse_timing() -> None:
    assert (parse_timing("none"), parse_timing("recorded"), parse_timing("scale:0.5")) == (None, 1.0, 0.5)
    for bad in ("scale:-1", "scale:x", "later"):
        with pytest.raises(ValueError):
            parse_timing(bad)


def test_each_policy_fails_on_its_own_kinds() -> None:
    events = [ReportEvent(kind, "POST /v1/responses", 3, "m") for kind in ("drift", "unused", "fault")]  # type: ignore[arg-type]
    assert REPLAY_EXIT.failures(events) == []
    assert [e.kind for e in REPORT_GATE.failures(events)] == ["drift"]
    assert [e.kind for e in PYTEST.failures(events)] == ["drift", "unused"]
    assert Policy().failures([{"kind": "violation"}]) == [{"kind": "violation"}]
    assert event_line(events[0]) == "drift: POST /v1/responses exchange #3: m"


def test_a_report_lists_every_exchange_never_requested_as_runs() -> None:
    report = Report()
    for number in (*range(3, 150), 1, 200, 151, 150):  # mostly in order, as a replay finds them; some not
        report.add(ReportEvent("unused", "GET /v1/models", number, f"exchange #{number} (c.mpk) was never requested"),
                   emit=False)
    report.add(ReportEvent("unused", "GET /v1/responses", 160, "turn 2 of WebSocket exchange #160 (c.mpk) was never "
                                                                "requested"), emit=False)  # a served connection
    document = report.to_json()
    assert document["unused_exchanges"] == [[1, 1], [3, 151], [200, 200]]
    assert document["omitted"] == {"unused": 52} and document["summary"]["unused"] == 152
    # A session's report while it runs: the exchanges unused so far, as they would be added.
    running = Report().to_json(unused=[ReportEvent("unused", "GET /v1/models", n, "") for n in (7, 8, 9)])
    assert running["unused_exchanges"] == [[7, 9]] and "unused_exchanges" not in Report().to_json()
