"""The invariants of a well-formed Responses request: every tool output answers a call, every call has its output.

A port of the Codex harness's ``validate_request_body_invariants``, widened to stateful
requests: a request that names ``previous_response_id`` or a ``conversation`` continues
earlier items (``replayer.conversation``), so its calls and outputs are checked against
them too. When part of that state began before the replay, an output whose call is not in
view is not a violation: the replay cannot know, and a false alarm costs as much as a miss.
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


PAIRED_KINDS = frozenset({*_ANSWERS, *(kind for kinds in _ANSWERS.values() for kind in kinds)})


def _collect(items: Iterable[Any], found: dict[str, set[str]], *, check_outputs: bool) -> None:
    """Add each call and output item's call id to ``found`` by item type, in one pass (the hot path)."""
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind not in PAIRED_KINDS:
            continue
        call_id = item.get("call_id")
        if isinstance(call_id, str) and call_id:
            found.setdefault(kind, set()).add(call_id)
        elif check_outputs and kind in _ANSWERS:
            raise InvariantViolation(f"{kind} with a missing or empty call_id (an orphan output should be dropped)")


def validate_request_body_invariants(body: Any, history: Sequence[Any] = (), history_complete: bool = True) -> None:
    """Raise InvariantViolation if ``body`` is not a well-formed Responses request.

    ``history`` holds the items of the conversation the request continues (the inputs
    and served outputs of the responses its ``previous_response_id`` chains back to, or
    of its ``conversation``); it is empty for a stateless request, which must then be whole
    in its own ``input``. ``history_complete`` is False when that state began before the
    replay: outputs are then not required to find their calls.
    """
    if not isinstance(body, dict):
        raise InvariantViolation("request body is not a JSON object")
    items = body.get("input")
    if isinstance(items, str):
        # The API takes a bare string as one user message: nothing to pair in it.
        items = []
    if not isinstance(items, list):
        raise InvariantViolation("request body has no `input` (an array of items, or a string)")
    found: dict[str, set[str]] = {}
    _collect(items, found, check_outputs=True)
    if history:
        _collect(history, found, check_outputs=False)
    if not found:
        return
    none: set[str] = set()
    for output_kind, call_kinds in _ANSWERS.items():
        if not history_complete:
            break
        calls = set().union(*(found.get(kind, none) for kind in call_kinds))
        for call_id in sorted(found.get(output_kind, none) - calls):
            raise InvariantViolation(
                f"{output_kind} without a matching {' or '.join(call_kinds)} in the conversation: call id {call_id}"
            )
    for call_kind, output_kind in _NEEDS_OUTPUT.items():
        for call_id in sorted(found.get(call_kind, none) - found.get(output_kind, none)):
            raise InvariantViolation(f"{call_kind} without its {output_kind}: call id {call_id}")
