"""Streams shaped as the Responses API sends them, every ev_* builder in a scenario, and a corpus of broken cassettes.

The API-shaped streams carry what real streams carry and the harness's builders do not:
sequence numbers, `response.in_progress`, content parts, `.done` events, output indexes.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rec.cassette import Header, write_cassette
from rec.synth import events as ev
from rec.synth.scenario import Scenario

Event = dict[str, Any]
# A time long before any max_age a project sets.
OLD = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def numbered(events: list[Event]) -> list[Event]:
    """The events with sequence_numbers from 0, as the API numbers them."""
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def message_stream(response_id: str, text: str, *, index: int = 0) -> list[Event]:
    """A streamed assistant message with everything the API sends around it."""
    item_id = f"msg_{response_id}"
    item = {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    return numbered([
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.in_progress", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": index,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **where, "part": {"type": "output_text", "text": ""}},
        *({"type": "response.output_text.delta", **where, "delta": word, "obfuscation": "x1"}
          for word in text.split(" ")),
        {"type": "response.output_text.done", **where, "text": text},
        {"type": "response.content_part.done", **where, "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": index, "item": item},
        {"type": "response.completed", "response": {"id": response_id, "status": "completed", "output": [item]}},
    ])


def tool_stream(response_id: str) -> list[Event]:
    """Reasoning with a summary, then a function call with streamed arguments: two items."""
    reasoning = {"type": "reasoning", "id": f"rs_{response_id}", "summary": [{"type": "summary_text", "text": "ok"}]}
    call = {"type": "function_call", "id": f"fc_{response_id}", "call_id": "call_1", "name": "exec_command",
            "arguments": '{"cmd":"ls"}', "status": "completed"}
    r = {"item_id": reasoning["id"], "output_index": 0, "summary_index": 0}
    c = {"item_id": call["id"], "output_index": 1}
    return numbered([
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**reasoning, "summary": []}},
        {"type": "response.reasoning_summary_part.added", **r, "part": {"type": "summary_text", "text": ""}},
        {"type": "response.reasoning_summary_text.delta", **r, "delta": "ok"},
        {"type": "response.reasoning_summary_text.done", **r, "text": "ok"},
        {"type": "response.output_item.done", "output_index": 0, "item": reasoning},
        {"type": "response.output_item.added", "output_index": 1, "item": {**call, "arguments": ""}},
        {"type": "response.function_call_arguments.delta", **c, "delta": '{"cmd":'},
        {"type": "response.function_call_arguments.delta", **c, "delta": '"ls"}'},
        {"type": "response.function_call_arguments.done", **c, "arguments": call["arguments"]},
        {"type": "response.output_item.done", "output_index": 1, "item": call},
        {"type": "response.completed", "response": {"id": response_id, "status": "completed",
                                                    "output": [reasoning, call]}},
    ])


def changed(events: list[Event], change: Callable[[list[Event]], Any]) -> list[Event]:
    """A copy of ``events`` (no part shared, as after a trip through the wire) with ``change`` applied to it."""
    copied = json.loads(json.dumps(events))
    change(copied)
    return copied


# Every public builder of rec.synth.events, called as a scenario would (the test checks none is missing).
BUILDER_CALLS: dict[str, Callable[[], Any]] = {
    "ev_response_created": lambda: ev.ev_response_created("r"),
    "ev_completed": lambda: ev.ev_completed("r"),
    "ev_completed_with_tokens": lambda: ev.ev_completed_with_tokens("r", 10),
    "ev_done": ev.ev_done,
    "ev_done_with_id": lambda: ev.ev_done_with_id("r"),
    "ev_assistant_message": lambda: ev.ev_assistant_message("m1", "hi"),
    "ev_message_item_added": lambda: ev.ev_message_item_added("m1", ""),
    "ev_output_text_delta": lambda: ev.ev_output_text_delta("hi"),
    "ev_reasoning_item": lambda: ev.ev_reasoning_item("rs1", ["s"], ["raw"]),
    "ev_reasoning_item_added": lambda: ev.ev_reasoning_item_added("rs1", ["s"]),
    "ev_reasoning_summary_text_delta": lambda: ev.ev_reasoning_summary_text_delta("s"),
    "ev_reasoning_text_delta": lambda: ev.ev_reasoning_text_delta("raw"),
    "ev_web_search_call_added_partial": lambda: ev.ev_web_search_call_added_partial("ws1", "in_progress"),
    "ev_web_search_call_done": lambda: ev.ev_web_search_call_done("ws1", "completed", "weather"),
    "ev_image_generation_call": lambda: ev.ev_image_generation_call("ig1", "completed", "a cat", "aGk="),
    "ev_function_call": lambda: ev.ev_function_call("call_1", "shell", "{}"),
    "ev_function_call_with_namespace": lambda: ev.ev_function_call_with_namespace("call_2", "ns", "f", "{}"),
    "ev_tool_search_call": lambda: ev.ev_tool_search_call("call_3", {"query": "x"}),
    "ev_custom_tool_call": lambda: ev.ev_custom_tool_call("call_4", "patch", "x"),
    "ev_local_shell_call": lambda: ev.ev_local_shell_call("call_5", "completed", ["ls"]),
    "ev_shell_command_call": lambda: ev.ev_shell_command_call("call_6", "ls"),
    "ev_shell_command_call_with_args": lambda: ev.ev_shell_command_call_with_args("call_7", {"command": "ls"}),
    "ev_apply_patch_custom_tool_call": lambda: ev.ev_apply_patch_custom_tool_call("call_8", "*** Begin Patch"),
    "ev_apply_patch_function_call": lambda: ev.ev_apply_patch_function_call("call_9", "*** Begin Patch"),
    "ev_apply_patch_shell_call": lambda: ev.ev_apply_patch_shell_call("call_10", "*** Begin Patch"),
    "ev_apply_patch_shell_call_via_heredoc": lambda: ev.ev_apply_patch_shell_call_via_heredoc("c11", "*** B"),
    "ev_apply_patch_shell_command_call_via_heredoc":
        lambda: ev.ev_apply_patch_shell_command_call_via_heredoc("c12", "*** B"),
    "ev_apply_patch_call": lambda: ev.ev_apply_patch_call("c13", "*** B", ev.ApplyPatchModelOutput.SHELL),
}


def call(name: str) -> Any:
    return BUILDER_CALLS[name]()


def every_builder_scenario() -> Scenario:
    """Every builder, in the streams the harness's tests build with them, and every kind of exchange."""
    tools = [call(name) for name in BUILDER_CALLS if name.startswith(("ev_function", "ev_tool", "ev_custom",
                                                                      "ev_local", "ev_shell", "ev_apply",
                                                                      "ev_image"))]
    return (
        Scenario(name="every builder")
        .sse_turn([call("ev_response_created"), *tools, call("ev_completed")], request={"model": "m", "input": "hi"})
        .sse_turn([call("ev_response_created"), call("ev_message_item_added"), call("ev_output_text_delta"),
                   call("ev_assistant_message"), call("ev_completed_with_tokens")])
        .sse_turn([call("ev_response_created"), call("ev_reasoning_item_added"),
                   call("ev_reasoning_summary_text_delta"), call("ev_reasoning_text_delta"),
                   call("ev_reasoning_item"), call("ev_web_search_call_added_partial"),
                   call("ev_web_search_call_done"), call("ev_done_with_id")])
        .sse_turn([call("ev_response_created"), call("ev_assistant_message")], cut_after=1)
        .sse_turn(message_stream("resp_api", "as the API sends it"))
        .sse_turn(tool_stream("resp_tool"))
        .json_turn({"error": {"message": "slow down"}}, status=429)
        .compact([{"type": "compaction", "encrypted_content": "eA=="}])
        .models([{"slug": "gpt-5"}], etag='"v1"')
        .websocket([({"type": "response.create", "generate": False}, [call("ev_response_created"), call("ev_done")]),
                    (None, [call("ev_response_created"), call("ev_completed")]),
                    (None, message_stream("resp_ws", "over the socket"))])
    )


def sse_body_builders() -> list[str]:
    """The whole-body builders (sse, sse_completed, sse_failed) the mount API serves."""
    return [ev.sse([call("ev_response_created"), call("ev_completed")]), ev.sse_completed("r"),
            ev.sse_failed("r", "server_error", "boom")]


def write_old(path: Path, scenario: Scenario, when: datetime.datetime) -> None:
    """The scenario's exchanges in a cassette whose header says it was written ``when``."""
    write_cassette(path, Header(created_at=when.isoformat()), scenario.exchanges)


def outsized(scenario: Scenario) -> Scenario:
    """Four small answers and one of 300 kB that does not compress."""
    for n in range(4):
        scenario.sse_turn(message_stream(f"r{n}", "small"))
    return scenario.json_turn({"blob": os.urandom(150_000).hex()}, path="/v1/files")
