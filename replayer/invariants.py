"""The invariants of a well-formed Responses request: every tool output answers a call, every call has its output.

A port of the Codex harness's ``validate_request_body_invariants``, widened to chained
requests: a request that names ``previous_response_id`` continues a conversation, so
its calls and outputs are checked against that conversation's earlier items too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Output item type -> the call item types it may answer.
_ANSWERS = {
    "function_call_output": ("function_call", "local_shell_call"),
    "custom_tool_call_output": ("custom_tool_call",),
}
# Call item type -> the output item type it needs.
_NEEDS_OUTPUT = {"function_call": "function_call_output", "custom_tool_call": "custom_tool_call_output"}


class InvariantViolation(ValueError):
    """A request that breaks an invariant; the message names the offending call id."""


def _call_ids(items: Iterable[Any], kinds: Sequence[str]) -> set[str]:
    ids: set[str] = set()
    for item in items:
        if isinstance(item, dict) and item.get("type") in kinds:
            call_id = item.get("call_id")
            if isinstance(call_id, str) and call_id:
                ids.add(call_id)
    return ids


def validate_request_body_invariants(body: Any, history: Sequence[Any] = ()) -> None:
    """Raise InvariantViolation if ``body`` is not a well-formed Responses request.

    ``history`` holds the items of the conversation the request continues (the inputs
    and served outputs of the responses its ``previous_response_id`` chains back to);
    it is empty for a stateless request, which must then be whole in its own ``input``.
    """
    if not isinstance(body, dict):
        raise InvariantViolation("request body is not a JSON object")
    items = body.get("input")
    if isinstance(items, str):
        # The API takes a bare string as one user message: nothing to pair.
        items = []
    if not isinstance(items, list):
        raise InvariantViolation("request body has no `input` (an array of items, or a string)")
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in _ANSWERS:
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvariantViolation(f"{kind} with a missing or empty call_id (an orphan output should be dropped)")
    conversation = [*history, *items]
    for output_kind, call_kinds in _ANSWERS.items():
        calls = _call_ids(conversation, call_kinds)
        for call_id in sorted(_call_ids(conversation, (output_kind,)) - calls):
            raise InvariantViolation(
                f"{output_kind} without a matching {' or '.join(call_kinds)} in the conversation: call id {call_id}"
            )
    for call_kind, output_kind in _NEEDS_OUTPUT.items():
        outputs = _call_ids(conversation, (output_kind,))
        for call_id in sorted(_call_ids(conversation, (call_kind,)) - outputs):
            raise InvariantViolation(f"{call_kind} without its {output_kind}: call id {call_id}")
