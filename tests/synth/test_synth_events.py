"""The ev_* builders have the Codex harness's JSON shapes; sse() writes its exact wire text."""

from __future__ import annotations

import base64
import json

import pytest

from rec.synth import events as ev

USAGE0 = {"input_tokens": 0, "input_tokens_details": None, "output_tokens": 0, "output_tokens_details": None,
          "total_tokens": 0}


def test_sse_wire_text_matches_the_harness() -> None:
    body = ev.sse([{"type": "response.created", "response": {"id": "r"}}, {"type": "response.in_progress"},
                   ev.ev_output_text_delta("hé")])
    assert body == (
        'event: response.created\ndata: {"type":"response.created","response":{"id":"r"}}\n\n'
        "event: response.in_progress\n\n"
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hé"}\n\n'
    )
    assert ev.sse_completed("r1") == ev.sse([ev.ev_response_created("r1"), ev.ev_completed("r1")])


def test_sse_failed() -> None:
    (line1, line2, *_) = ev.sse_failed("r", "rate_limit_exceeded", "slow down").split("\n")
    assert line1 == "event: response.failed"
    assert json.loads(line2.removeprefix("data: ")) == {
        "type": "response.failed",
        "response": {"id": "r", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}}


@pytest.mark.parametrize(("built", "expected"), [
    (ev.ev_response_created("r"), {"type": "response.created", "response": {"id": "r"}}),
    (ev.ev_completed("r"), {"type": "response.completed", "response": {"id": "r", "usage": USAGE0}}),
    (ev.ev_completed_with_tokens("r", 7), {"type": "response.completed", "response": {"id": "r", "usage": {
        "input_tokens": 7, "input_tokens_details": None, "output_tokens": 0, "output_tokens_details": None,
        "total_tokens": 7}}}),
    (ev.ev_done(), {"type": "response.done", "response": {"usage": USAGE0}}),
    (ev.ev_done_with_id("r"), {"type": "response.done", "response": {"id": "r", "usage": USAGE0}}),
    (ev.ev_assistant_message("m", "hi"), {"type": "response.output_item.done", "item": {
        "type": "message", "role": "assistant", "id": "m", "content": [{"type": "output_text", "text": "hi"}]}}),
    (ev.ev_message_item_added("m", ""), {"type": "response.output_item.added", "item": {
        "type": "message", "role": "assistant", "id": "m", "content": [{"type": "output_text", "text": ""}]}}),
    (ev.ev_output_text_delta("d"), {"type": "response.output_text.delta", "delta": "d"}),
    (ev.ev_reasoning_item_added("rs", ["a"]), {"type": "response.output_item.added", "item": {
        "type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "a"}]}}),
    (ev.ev_reasoning_summary_text_delta("d"), {"type": "response.reasoning_summary_text.delta", "delta": "d",
                                               "summary_index": 0}),
    (ev.ev_reasoning_text_delta("d"), {"type": "response.reasoning_text.delta", "delta": "d", "content_index": 0}),
    (ev.ev_web_search_call_added_partial("w", "in_progress"), {"type": "response.output_item.added", "item": {
        "type": "web_search_call", "id": "w", "status": "in_progress"}}),
    (ev.ev_web_search_call_done("w", "completed", "q"), {"type": "response.output_item.done", "item": {
        "type": "web_search_call", "id": "w", "status": "completed", "action": {"type": "search", "query": "q"}}}),
    (ev.ev_image_generation_call("ig", "completed", "a cat", "AAAA"), {"type": "response.output_item.done", "item": {
        "type": "image_generation_call", "id": "ig", "status": "completed", "revised_prompt": "a cat",
        "result": "AAAA"}}),
    (ev.ev_function_call("c", "f", "{}"), {"type": "response.output_item.done", "item": {
        "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}}),
    (ev.ev_function_call_with_namespace("c", "ns", "f", "{}"), {"type": "response.output_item.done", "item": {
        "type": "function_call", "call_id": "c", "namespace": "ns", "name": "f", "arguments": "{}"}}),
    (ev.ev_tool_search_call("c", {"q": 1}), {"type": "response.output_item.done", "item": {
        "type": "tool_search_call", "call_id": "c", "execution": "client", "arguments": {"q": 1}}}),
    (ev.ev_custom_tool_call("c", "t", "in"), {"type": "response.output_item.done", "item": {
        "type": "custom_tool_call", "call_id": "c", "name": "t", "input": "in"}}),
    (ev.ev_local_shell_call("c", "completed", ["ls", "-l"]), {"type": "response.output_item.done", "item": {
        "type": "local_shell_call", "call_id": "c", "status": "completed",
        "action": {"type": "exec", "command": ["ls", "-l"]}}}),
    (ev.ev_shell_command_call("c", "ls"), ev.ev_function_call("c", "shell_command", '{"command":"ls"}')),
    (ev.ev_apply_patch_custom_tool_call("c", "P"), {"type": "response.output_item.done", "item": {
        "type": "custom_tool_call", "name": "apply_patch", "input": "P", "call_id": "c"}}),
    (ev.ev_apply_patch_function_call("c", "P"), {"type": "response.output_item.done", "item": {
        "type": "function_call", "name": "apply_patch", "arguments": '{"input":"P"}', "call_id": "c"}}),
    (ev.ev_apply_patch_shell_call("c", "P"), ev.ev_function_call("c", "shell", '{"command":["apply_patch","P"]}')),
    (ev.ev_apply_patch_shell_call_via_heredoc("c", "P"), ev.ev_function_call(
        "c", "shell", '{"command":["bash","-lc","apply_patch <<\'EOF\'\\nP\\nEOF\\n"]}')),
    (ev.ev_apply_patch_shell_command_call_via_heredoc("c", "P"), ev.ev_function_call(
        "c", "shell_command", json.dumps({"command": "apply_patch <<'EOF'\nP\nEOF\n"}, separators=(",", ":")))),
    (ev.user_message_item("hi"), {"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": "hi"}]}),
])
def test_builder_shapes(built: dict, expected: dict) -> None:
    assert built == expected


def test_reasoning_item_encrypted_content_is_base64_of_overhead_and_raw_content() -> None:
    item = ev.ev_reasoning_item("rs", ["sum"], ["raw1", "raw2"])["item"]
    assert base64.b64decode(item["encrypted_content"]) == b"b" * 550 + b"raw1raw2"
    assert item["content"] == [{"type": "reasoning_text", "text": "raw1"}, {"type": "reasoning_text", "text": "raw2"}]
    assert "content" not in ev.ev_reasoning_item("rs", ["sum"], [])["item"]


def test_apply_patch_call_dispatches_on_output_type() -> None:
    kinds = ev.ApplyPatchModelOutput
    assert ev.ev_apply_patch_call("c", "P", kinds.FREEFORM) == ev.ev_apply_patch_custom_tool_call("c", "P")
    assert ev.ev_apply_patch_call("c", "P", kinds.SHELL) == ev.ev_apply_patch_shell_call("c", "P")
