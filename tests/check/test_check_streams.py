"""The `streams` rules on parsed events: valid streams (the API's, the harness's) pass; each break is named; the one
pass over a stream read plainly vouches only for streams every rule passes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.cassette import Close, Frame, Request, Response, WebSocketExchange
from rec.check import streams
from rec.check.events import plain_sse_events, plain_websocket_turns, sse_events, websocket_turns
from rec.check.streams import stream_problems
from tests.check.support import BUILDER_CALLS, call, changed, message_stream, numbered, tool_stream


def rules(events: list[Any], **kwargs: bool) -> list[str]:
    return [problem.rule for problem in stream_problems(events, **kwargs)]


VALID = {
    "message": message_stream("r1", "hello there"),
    "reasoning and a tool call": tool_stream("r2"),
    # What real servers add: unknown events anywhere, rate limits before the response, steering after it.
    "codex extras": [{"type": "codex.rate_limits", "primary": {"used_percent": 1}}, {"type": "keepalive"},
                     *message_stream("r3", "hi"),
                     {"type": "response.steer.pending", "sequence_number": 99, "steer": {"id": "s1"}}],
    "error at once": [{"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "sequence_number": 0}],
    "created then error": numbered([{"type": "response.created", "response": {"id": "r"}},
                                    {"type": "error", "code": "server_error", "message": "boom"}]),
    "failed at once (sse_failed)": [{"type": "response.failed", "response": {"id": "r", "error": {"code": "x"}}}],
    "incomplete mid-message": changed(message_stream("r4", "cut short"), lambda e: e.__setitem__(-1, {
        "type": "response.incomplete", "sequence_number": 12, "response": {"id": "r4", "output": []}})),
    "audio delta without an item": numbered([{"type": "response.created", "response": {"id": "r"}},
                                             {"type": "response.audio.delta", "delta": "AAA="},
                                             {"type": "response.completed", "response": {"id": "r"}}]),
    "harness deltas with no ids": [call("ev_response_created"), call("ev_message_item_added"),
                                   call("ev_output_text_delta"), call("ev_assistant_message"), call("ev_completed")],
    "harness items done without added": [call("ev_response_created"), call("ev_function_call"),
                                         call("ev_assistant_message"), call("ev_done")],
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_streams_pass(name: str) -> None:
    assert stream_problems(VALID[name]) == []


def test_a_resumed_stream_starts_mid_response() -> None:
    resumed = message_stream("r", "a b c")[6:]  # after `starting_after`: a delta of an item added earlier
    assert rules(resumed) == ["created_first", "item_lifetime"]
    assert rules(resumed, resumed=True) == []


def test_a_cut_stream_needs_no_terminal_but_keeps_every_other_rule() -> None:
    head = message_stream("r", "a b")[:5]
    assert rules(head, cut=True) == []
    assert rules(head) == ["one_terminal"]
    assert rules(changed(head, lambda e: e.pop(2)), cut=True) == ["item_lifetime"]


def swap_first_delta(events: list[Any]) -> None:
    events.insert(2, events.pop(4))


def second_item_at_index_0(events: list[Any]) -> None:
    other = {"type": "message", "id": "msg_2", "role": "assistant", "content": []}
    events[-1:-1] = [{"type": "response.output_item.added", "output_index": 0, "item": other},
                     {"type": "response.output_item.done", "output_index": 0, "item": other}]
    events[-1]["response"]["output"].append(other)


BREAKS = {
    "created_first": lambda e: e.pop(0),
    "response_id": lambda e: e[-1]["response"].update(id="resp_other"),
    "one_terminal (none)": lambda e: e.pop(),
    "one_terminal (two)": lambda e: e.append({"type": "response.failed", "response": {"id": "r"}}),
    "one_terminal (after)": lambda e: e.append({"type": "response.in_progress", "response": {"id": "r"}}),
    "sequence": lambda e: e[3].update(sequence_number=1),
    "item_lifetime (before added)": swap_first_delta,
    "item_lifetime (after done)": lambda e: e.insert(-1, dict(e[4])),
    "item_lifetime (unfinished)": lambda e: (e.pop(-2), e[-1]["response"].update(output=[])),
    "item_lifetime (a delta naming only an index)": lambda e: e.insert(-1, {k: v for k, v in e[4].items()
                                                                          if k != "item_id"}),
    "item_identity (id)": lambda e: e[4].update(item_id="msg_other"),
    "item_identity (a part's id)": lambda e: e[3].update(item_id="msg_other"),
    "item_identity (index)": second_item_at_index_0,
    "output": lambda e: e[-1]["response"]["output"][0].update(id="msg_else"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_break_is_one_problem_of_its_rule(name: str) -> None:
    broken = changed(message_stream("r", "a b"), BREAKS[name])
    if name != "sequence":  # every other break keeps the numbers counting up
        broken = numbered(broken)
    found = stream_problems(broken)
    assert [p.rule for p in found] == [name.split(" ")[0]], found
    assert "event" in found[0].message or "stream" in found[0].message
    assert found[0].fix


def test_a_delta_naming_an_index_alone_is_found_by_its_index() -> None:
    events = numbered([{"type": "response.created", "response": {"id": "r"}},
                       {"type": "response.output_item.added", "output_index": 0,
                        "item": {"type": "shell_call", "id": "sh_1"}},
                       {"type": "response.shell_call_command.delta", "output_index": 0, "delta": "ls"},
                       {"type": "response.output_item.done", "output_index": 0,
                        "item": {"type": "shell_call", "id": "sh_1"}},
                       {"type": "response.shell_call_command.delta", "output_index": 0, "delta": "late"},
                       {"type": "response.completed", "response": {"id": "r"}}])
    found = stream_problems(events)
    assert [p.message for p in found] == [
        "event 4 (response.shell_call_command.delta) for the item at output_index 0 comes after its "
        "response.output_item.done"]


def test_a_harness_delta_with_no_item_open_is_what_codex_rejects() -> None:
    events = [call("ev_response_created"), call("ev_output_text_delta"), call("ev_completed")]
    assert [p.message for p in stream_problems(events)] == [
        "event 1 (response.output_text.delta) for an item comes with no response.output_item.added for it"]


def test_every_builder_is_in_the_support_table() -> None:
    from rec.synth import events

    public = {name for name in dir(events) if name.startswith("ev_")}
    assert public == set(BUILDER_CALLS)


def test_a_completed_response_listing_an_item_by_an_id_not_text_names_no_item() -> None:
    events = message_stream("r5", "hi")
    events = [e for e in events if e["type"] != "response.output_item.done"]
    events[-1] = {**events[-1], "response": {"id": "r5", "output": [{"id": [], "type": "message"}, {"id": {"a": 1}}]}}
    assert rules(events) == ["item_lifetime"]


# Streams as the API sends them (one item, two items, events of other kinds around them), to break at random.
PLAIN = [message_stream("r1", "hello there you"), tool_stream("r2"), VALID["codex extras"]]
# Values and fields a break puts in an event (numbers past what the plain reading takes for one among them).
VALUES = [None, 0, 1, 2, True, -1, "x", "msg_r1", "fc_r2", "r1", "r2", [], {}, 1.5, 2**63, 2**64, "é"]
FIELDS = ["type", "output_index", "item_id", "sequence_number", "item", "response", "id"]
KINDS = ["response.created", "response.in_progress", "response.completed", "response.failed", "response.done",
         "error", "response.output_item.added", "response.output_item.done", "response.output_text.delta",
         "response.audio.delta", "response.steer.pending", "keepalive", "response.content_part.added",
         "response.function_call_arguments.delta", "response.incomplete", "response.queued"]
BREAK = st.tuples(st.integers(0, 9), st.integers(0, 40), st.integers(0, 40), st.sampled_from(VALUES),
                  st.sampled_from(FIELDS), st.sampled_from(KINDS))


def broken(events: list[Any], breaks: list[tuple[int, int, int, Any, str, str]]) -> list[Any]:
    """The events with each break applied: an event dropped, repeated, moved, given a field, a value or a kind."""
    events = changed(events, lambda _: None)
    for what, at, other, value, name, kind in breaks:
        i, j = at % len(events), other % len(events)
        event = events[i]
        if what == 0:
            del events[i]
        elif what == 1:
            events.insert(i, changed([events[j]], lambda _: None)[0])
        elif what == 2:
            events[i], events[j] = events[j], events[i]
        elif what == 3 and isinstance(event, dict):
            event[name] = value
        elif what == 4 and isinstance(event, dict):
            event["type"] = kind
        elif what == 5 and isinstance(event, dict):
            event.pop(name, None)
        elif what == 6 and isinstance(event, dict) and isinstance(event.get("item"), dict):
            event["item"]["id"] = value
        elif what == 7 and isinstance(event, dict) and isinstance(event.get("response"), dict):
            event["response"]["id" if name != "response" else "output"] = value
        elif what == 8:
            events.insert(i, value)
        elif what == 9:
            events.insert(i, {"type": kind, "output_index": value, "item_id": value})
        if not events:
            events.append({"type": kind})
    return events


def sse_body(events: list[Any], named: bool = True) -> bytes:
    """The events as an API writes them: a `data:` line each, after an `event:` line naming its type (``named``)."""
    def lines(event: Any) -> str:
        kind = event.get("type") if isinstance(event, dict) else None
        name = f"event: {kind}\n" if named and isinstance(kind, str) else ""
        return f"{name}data: {json.dumps(event)}\n\n"
    return "".join(map(lines, events)).encode()


def connection(events: list[Any]) -> WebSocketExchange:
    """A WebSocket of one turn: the client's response.create, then the events."""
    frames = [Frame(0.0, True, True, b'{"type": "response.create"}')]
    frames += [Frame(float(n), False, True, json.dumps(event).encode()) for n, event in enumerate(events, 1)]
    return WebSocketExchange(Request("GET", "/v1/responses"), Response(101), frames=frames, close=Close())


def vouched_sse(body: bytes) -> bool:
    plain = plain_sse_events(body)
    return plain is not None and streams._plainly_well_formed(plain)


def vouched_websocket(exchange: WebSocketExchange) -> bool:
    turns = plain_websocket_turns(exchange)
    return turns is not None and all(streams._plainly_well_formed(events) for _, events, _, _ in turns)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(PLAIN), st.lists(BREAK, max_size=4), st.booleans(), st.booleans(), st.booleans())
def test_a_stream_read_plainly_as_well_formed_breaks_no_rule(stream: list[Any], breaks: list[Any], named: bool,
                                                             cut: bool, resumed: bool) -> None:
    events = broken(stream, breaks)
    body = sse_body(events, named)
    if vouched_sse(body):
        assert stream_problems(sse_events(body), cut=cut, resumed=resumed) == []
    exchange = connection(events)
    if vouched_websocket(exchange):
        for _, whole, _, _ in websocket_turns(exchange):
            assert stream_problems(whole, cut=cut, resumed=resumed) == []


@pytest.mark.parametrize("events", PLAIN)
def test_what_the_api_streams_is_read_plainly_as_well_formed(events: list[Any]) -> None:
    # The one pass, not every rule, checks what the API sends, on SSE and on the WebSocket.
    assert vouched_sse(sse_body(events))
    assert vouched_sse(sse_body(events).replace(b"\n", b"\r\n"))
    assert vouched_websocket(connection(events))
