"""Builders of Responses API events, with the JSON shapes of the Codex test harness.

Plain functions that return dicts (one SSE event each) or strings (whole SSE bodies);
they never touch the network. Use them in scenarios (`rec synth`) and with the mount
API (`rec.testing.mock`)::

    body = sse([ev_response_created("resp-1"), ev_function_call("call-1", "shell", "{}"),
                ev_completed("resp-1")])
"""

from __future__ import annotations

import base64
import json
from enum import Enum
from typing import Any

Event = dict[str, Any]


def _json(value: Any) -> str:
    """Compact JSON in insertion order, like serde_json::to_string."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse(events: list[Event]) -> str:
    """An SSE body: `event: TYPE` then `data: JSON` per event; an event that is only a type has no data line."""
    out: list[str] = []
    for event in events:
        out.append(f"event: {event['type']}\n")
        if len(event) == 1:
            out.append("\n")
        else:
            out.append(f"data: {_json(event)}\n\n")
    return "".join(out)


def _zero_usage(total_tokens: int = 0) -> dict[str, Any]:
    return {"input_tokens": total_tokens, "input_tokens_details": None, "output_tokens": 0,
            "output_tokens_details": None, "total_tokens": total_tokens}


def ev_response_created(id: str) -> Event:
    return {"type": "response.created", "response": {"id": id}}


def ev_completed(id: str) -> Event:
    return {"type": "response.completed", "response": {"id": id, "usage": _zero_usage()}}


def ev_completed_with_tokens(id: str, total_tokens: int) -> Event:
    return {"type": "response.completed", "response": {"id": id, "usage": _zero_usage(total_tokens)}}


def ev_done() -> Event:
    return {"type": "response.done", "response": {"usage": _zero_usage()}}


def ev_done_with_id(id: str) -> Event:
    return {"type": "response.done", "response": {"id": id, "usage": _zero_usage()}}


def sse_completed(id: str) -> str:
    return sse([ev_response_created(id), ev_completed(id)])


def sse_failed(id: str, code: str, message: str) -> str:
    return sse([{"type": "response.failed", "response": {"id": id, "error": {"code": code, "message": message}}}])


def ev_assistant_message(id: str, text: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "message", "role": "assistant", "id": id,
                     "content": [{"type": "output_text", "text": text}]}}


def ev_message_item_added(id: str, text: str) -> Event:
    return {"type": "response.output_item.added",
            "item": {"type": "message", "role": "assistant", "id": id,
                     "content": [{"type": "output_text", "text": text}]}}


def ev_output_text_delta(delta: str) -> Event:
    return {"type": "response.output_text.delta", "delta": delta}


def user_message_item(text: str) -> dict[str, Any]:
    """A user message input item, as the Codex protocol serializes ResponseItem::Message (None fields omitted)."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def ev_reasoning_item(id: str, summary: list[str], raw_content: list[str]) -> Event:
    """A reasoning item; `encrypted_content` is base64 of 550 b's plus the raw content, as in the harness."""
    encrypted = base64.b64encode(("b" * 550 + "".join(raw_content)).encode()).decode()
    item: dict[str, Any] = {"type": "reasoning", "id": id,
                            "summary": [{"type": "summary_text", "text": t} for t in summary],
                            "encrypted_content": encrypted}
    if raw_content:
        item["content"] = [{"type": "reasoning_text", "text": t} for t in raw_content]
    return {"type": "response.output_item.done", "item": item}


def ev_reasoning_item_added(id: str, summary: list[str]) -> Event:
    return {"type": "response.output_item.added",
            "item": {"type": "reasoning", "id": id,
                     "summary": [{"type": "summary_text", "text": t} for t in summary]}}


def ev_reasoning_summary_text_delta(delta: str) -> Event:
    return {"type": "response.reasoning_summary_text.delta", "delta": delta, "summary_index": 0}


def ev_reasoning_text_delta(delta: str) -> Event:
    return {"type": "response.reasoning_text.delta", "delta": delta, "content_index": 0}


def ev_web_search_call_added_partial(id: str, status: str) -> Event:
    return {"type": "response.output_item.added", "item": {"type": "web_search_call", "id": id, "status": status}}


def ev_web_search_call_done(id: str, status: str, query: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "web_search_call", "id": id, "status": status,
                     "action": {"type": "search", "query": query}}}


def ev_image_generation_call(id: str, status: str, revised_prompt: str, result: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "image_generation_call", "id": id, "status": status,
                     "revised_prompt": revised_prompt, "result": result}}


def ev_function_call(call_id: str, name: str, arguments: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}}


def ev_function_call_with_namespace(call_id: str, namespace: str, name: str, arguments: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "function_call", "call_id": call_id, "namespace": namespace, "name": name,
                     "arguments": arguments}}


def ev_tool_search_call(call_id: str, arguments: Any) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "tool_search_call", "call_id": call_id, "execution": "client",
                     "arguments": arguments}}


def ev_custom_tool_call(call_id: str, name: str, input: str) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "custom_tool_call", "call_id": call_id, "name": name, "input": input}}


def ev_local_shell_call(call_id: str, status: str, command: list[str]) -> Event:
    return {"type": "response.output_item.done",
            "item": {"type": "local_shell_call", "call_id": call_id, "status": status,
                     "action": {"type": "exec", "command": command}}}


def ev_shell_command_call(call_id: str, command: str) -> Event:
    return ev_shell_command_call_with_args(call_id, {"command": command})


def ev_shell_command_call_with_args(call_id: str, args: Any) -> Event:
    return ev_function_call(call_id, "shell_command", _json(args))


def ev_apply_patch_custom_tool_call(call_id: str, patch: str) -> Event:
    """`apply_patch` as the model calls it directly: a custom tool call with the raw patch."""
    return {"type": "response.output_item.done",
            "item": {"type": "custom_tool_call", "name": "apply_patch", "input": patch, "call_id": call_id}}


def ev_apply_patch_function_call(call_id: str, patch: str) -> Event:
    """`apply_patch` as a function call: the patch wrapped in a JSON string under `input`."""
    return {"type": "response.output_item.done",
            "item": {"type": "function_call", "name": "apply_patch", "arguments": _json({"input": patch}),
                     "call_id": call_id}}


def ev_apply_patch_shell_call(call_id: str, patch: str) -> Event:
    return ev_function_call(call_id, "shell", _json({"command": ["apply_patch", patch]}))


def ev_apply_patch_shell_call_via_heredoc(call_id: str, patch: str) -> Event:
    script = f"apply_patch <<'EOF'\n{patch}\nEOF\n"
    return ev_function_call(call_id, "shell", _json({"command": ["bash", "-lc", script]}))


def ev_apply_patch_shell_command_call_via_heredoc(call_id: str, patch: str) -> Event:
    return ev_function_call(call_id, "shell_command", _json({"command": f"apply_patch <<'EOF'\n{patch}\nEOF\n"}))


class ApplyPatchModelOutput(Enum):
    """How the model delivers an apply_patch call (the harness's ApplyPatchModelOutput)."""

    FREEFORM = "freeform"
    FUNCTION = "function"
    SHELL = "shell"
    SHELL_VIA_HEREDOC = "shell_via_heredoc"
    SHELL_COMMAND_VIA_HEREDOC = "shell_command_via_heredoc"


def ev_apply_patch_call(call_id: str, patch: str, output_type: ApplyPatchModelOutput) -> Event:
    builders = {
        ApplyPatchModelOutput.FREEFORM: ev_apply_patch_custom_tool_call,
        ApplyPatchModelOutput.FUNCTION: ev_apply_patch_function_call,
        ApplyPatchModelOutput.SHELL: ev_apply_patch_shell_call,
        ApplyPatchModelOutput.SHELL_VIA_HEREDOC: ev_apply_patch_shell_call_via_heredoc,
        ApplyPatchModelOutput.SHELL_COMMAND_VIA_HEREDOC: ev_apply_patch_shell_command_call_via_heredoc,
    }
    return builders[output_type](call_id, patch)
