"""The Responses invariants on request bodies, as the Codex harness checks them, plus chained history."""

from __future__ import annotations

from typing import Any

import pytest

from replayer.invariants import InvariantViolation, validate_request_body_invariants


def call(kind: str, call_id: str) -> dict[str, Any]:
    return {"type": kind, "call_id": call_id}


@pytest.mark.parametrize(("items", "history"), [
    ([], []),
    ("just a string", []),
    ([call("function_call", "c1"), call("function_call_output", "c1")], []),
    ([call("local_shell_call", "c1"), call("function_call_output", "c1")], []),
    ([call("custom_tool_call", "c2"), call("custom_tool_call_output", "c2")], []),
    ([call("function_call_output", "c1")], [call("function_call", "c1")]),  # chained: the call was served
])
def test_well_formed_conversations_pass(items: Any, history: list[Any]) -> None:
    validate_request_body_invariants({"input": items}, history)


@pytest.mark.parametrize(("items", "history", "message"), [
    ([call("function_call_output", "ghost")], [],
     "function_call_output without a matching function_call or local_shell_call in the conversation: call id ghost"),
    ([call("custom_tool_call_output", "c1")], [call("function_call", "c1")],
     "custom_tool_call_output without a matching custom_tool_call in the conversation: call id c1"),
    ([call("function_call", "c1")], [], "function_call without its function_call_output: call id c1"),
    ([call("custom_tool_call", "c9")], [], "custom_tool_call without its custom_tool_call_output: call id c9"),
    ([call("function_call_output", "")], [], "function_call_output with a missing or empty call_id"),
    ([{"type": "custom_tool_call_output"}], [], "custom_tool_call_output with a missing or empty call_id"),
    ("a string that does not answer", [call("function_call", "c1")],
     "function_call without its function_call_output: call id c1"),
])
def test_each_violation_names_the_call(items: Any, history: list[Any], message: str) -> None:
    with pytest.raises(InvariantViolation, match=message):
        validate_request_body_invariants({"input": items}, history)


@pytest.mark.parametrize(("body", "message"), [([], "not a JSON object"), ({"model": "m"}, "has no `input`")])
def test_a_body_that_is_not_a_request_is_named(body: Any, message: str) -> None:
    with pytest.raises(InvariantViolation, match=message):
        validate_request_body_invariants(body)
