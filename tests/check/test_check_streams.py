"""The `streams` rules on parsed events: valid streams (the API's, the harness's) pass; each break is named."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rec.check import streams
from rec.check.streams import sse_events, stream_problems
from rec.sse import split_events
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
# Values and fields a break puts in an event.
VALUES = [None, 0, 1, 2, True, -1, "x", "msg_r1", "fc_r2", "r1", "r2", [], {}, 1.5]
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


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(PLAIN), st.lists(BREAK, max_size=4), st.booleans(), st.booleans())
def test_a_stream_read_as_plainly_well_formed_breaks_no_rule(stream: list[Any], breaks: list[Any], cut: bool,
                                                             resumed: bool) -> None:
    events = broken(stream, breaks)
    if streams._plainly_well_formed(events):
        assert streams._problems(events, cut=cut, resumed=resumed) == []


@pytest.mark.parametrize("events", PLAIN)
def test_what_the_api_streams_is_read_as_plainly_well_formed(events: list[Any]) -> None:
    assert streams._plainly_well_formed(events)  # the one pass, not every rule, checks what the API sends


def events_as_split_events_reads_them(body: bytes) -> list[Any]:
    """An SSE body's events read through rec.sse.split_events, each data parsed on its own: what sse_events gives."""
    events = []
    for event in split_events(body):
        try:
            parsed = orjson.loads(event.data.encode()) if event.data else None
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) and event.event:
            parsed = {"type": event.event}
        elif isinstance(parsed, dict) and "type" not in parsed and event.event:
            parsed = {**parsed, "type": event.event}
        events.append(parsed)
    return events


def _sse(events: list[Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


# Lines an SSE body is made of: the API's, and every other shape split_events reads.
LINES = [b"event: response.created", b"data: {\"type\": \"response.created\", \"response\": {\"id\": \"r\"}}",
         b"data: {\"sequence_number\": 1}", b"data: {\"a\":", b"data: 1}", b"data: [1, 2]", b"data: \"caf\xc3\xa9\"",
         b"data: {\"t\": \"\xff\"}", b"event: \xe2\x82", b"event:response.done", b"data:{}", b"data: ", b"data:",
         b"event: ", b"event:  spaced", b": a comment", b"id: 7", b"retry: 10", b"event: a:b", b"data: {\"x\": \"\r\"}",
         b"", b"\r", b"event", b"data"]


EVENT_LINES = [line for line in LINES if line.startswith(b"event")]
DATA_LINES = [line for line in LINES if line.startswith(b"data")]
# An event as the API writes it (an event line, a data line), or any few lines.
BLOCKS = (st.tuples(st.sampled_from(EVENT_LINES), st.sampled_from(DATA_LINES)).map(b"\n".join)
          | st.sampled_from(DATA_LINES) | st.lists(st.sampled_from(LINES), max_size=4).map(b"\n".join))


@settings(max_examples=300)
@example([b"event:response.done\ndata: {\"sequence_number\": 1}"], b"\n", b"\n\n")  # no space after event:
@example([b"event: a\ndata: \"\xff\""], b"\n", b"\n\n")  # not UTF-8: the data is read with U+FFFD
@example([b"event: a\ndata: 1", b"data: 2"], b"\r\n", b"")  # a last event cut short
@given(st.lists(BLOCKS, max_size=6), st.sampled_from([b"\n", b"\r\n"]), st.sampled_from([b"\n\n", b"\n", b""]))
def test_sse_events_reads_any_body_as_split_events_does(blocks: list[bytes], newline: bytes, end: bytes) -> None:
    body = b"".join(block + b"\n\n" for block in blocks).removesuffix(b"\n\n") + end
    body = body.replace(b"\n", newline)
    assert sse_events(body) == events_as_split_events_reads_them(body)


@pytest.mark.parametrize("name", sorted(VALID))
def test_sse_events_reads_an_api_body_as_split_events_does(name: str) -> None:
    events = [e for e in VALID[name] if isinstance(e, dict)]
    for body in (_sse(events), _sse(events).replace(b"\n", b"\r\n"), _sse(events)[:-1]):
        assert sse_events(body) == events_as_split_events_reads_them(body)
