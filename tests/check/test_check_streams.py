"""The `streams` rules on parsed events: valid streams (the API's, the harness's) pass; each break is named."""

from __future__ import annotations

from typing import Any

import pytest

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
    "item_identity (id)": lambda e: e[4].update(item_id="msg_other"),
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
