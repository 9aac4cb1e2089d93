"""What an answer did, read from its normalized events (or JSON body): the facts the verdict compares.

One `Outcome` per HTTP exchange or WebSocket turn: how it ended (HTTP status, a cut or an
abnormal close, `error` events, the final response status), the tool calls it made (name and
arguments, parsed as JSON), the kinds of its other output items, the assistant's text, the
reasoning, and the tokens it used. Output items are the `response.output_item.done` events in
order, or, without any, the final response's `output`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rec.diff.usage import FINAL_EVENTS, Figures, tokens_of
from rec.diff.views import MAX_JSON_DEPTH, nests_deeper_than

# WebSocket close codes of a normal end: normal closure, going away, no code given.
NORMAL_CLOSE = frozenset({1000, 1001, 1005})


@dataclass(frozen=True)
class Call:
    """A tool call the model made: its name (`namespace.name`, or the item type for built-in tools) and input."""

    name: str
    arguments: Any


@dataclass
class Outcome:
    http_status: int | None = None  # None: no response came
    ended: str | None = None  # how the transport ended early: "cut", "reset", "close 1011", ...
    status: str | None = None  # the final response status; None: no final event
    errors: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    kinds: frozenset[str] = frozenset()
    text: str = ""
    reasoning: list[Any] = field(default_factory=list)
    tokens: Figures = field(default_factory=Figures)
    model: str | None = None  # the model that answered, when the response says


def parsed_arguments(value: Any) -> Any:
    """A call's arguments as JSON when they are a JSON string (not nested too deep), else as they are."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return value if nests_deeper_than(parsed, MAX_JSON_DEPTH) else parsed


def _call(item: dict[str, Any]) -> Call:
    given = item.get("name")
    name = given if isinstance(given, str) else str(item.get("type"))
    if isinstance(item.get("namespace"), str):
        name = f"{item['namespace']}.{name}"
    for key in ("arguments", "input", "action"):
        if key in item:
            return Call(name, parsed_arguments(item[key]))
    return Call(name, None)


def _text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(part.get("text", part.get("refusal", ""))) for part in parts if isinstance(part, dict))


def _error(value: dict[str, Any]) -> str:
    nested = value.get("error")
    error: dict[str, Any] = nested if isinstance(nested, dict) else value
    for key in ("code", "type", "message"):
        if isinstance(error.get(key), str) and error[key] != "error":
            return error[key]
    return f"status {value['status']}" if isinstance(value.get("status"), int) else "error"


def final_response(values: list[Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(type, response) of the last final event; (None, the body) for a JSON answer; (None, None) without."""
    for value in reversed(values):  # the final event is nearly always the last: found at once
        if isinstance(value, dict) and value.get("type") in FINAL_EVENTS and isinstance(value.get("response"), dict):
            return value["type"], value["response"]
    if len(values) == 1 and isinstance(values[0], dict) and "type" not in values[0]:
        return None, values[0]
    return None, None


def answer_usage(values: list[Any], response: dict[str, Any] | None = None) -> tuple[Figures, str | None]:
    """The tokens an answer used and the model that gave it (from its final response, found if not given)."""
    if response is None:
        response = final_response(values)[1]
    if response is None:
        return Figures(), None
    model = response.get("model")
    return tokens_of(response.get("usage")), model if isinstance(model, str) else None


def read_outcome(values: list[Any], http_status: int | None = None, ended: str | None = None) -> Outcome:
    """The outcome of an answer given as its events (SSE or WebSocket messages) or as one JSON body."""
    outcome = Outcome(http_status=http_status, ended=ended)
    items: list[Any] = []
    streamed: list[str] = []  # the answer's text deltas, for a stream that never sends its whole message
    final_type, response = final_response(values)
    if final_type is None and response is not None and isinstance(response.get("error"), dict):
        outcome.errors.append(_error(response))  # a JSON answer that is an error
    for value in values:
        if not isinstance(value, dict):
            continue
        kind = value.get("type")
        if kind == "error":
            outcome.errors.append(_error(value))
        elif kind == "response.output_item.done":
            items.append(value.get("item"))
        elif kind == "response.output_text.delta" and isinstance(value.get("delta"), str):
            streamed.append(value["delta"])
    if response is not None:
        status = response.get("status")
        if isinstance(status, str):
            outcome.status = status
        elif final_type is not None:
            outcome.status = "completed" if final_type == "response.done" else final_type.removeprefix("response.")
        if not items and isinstance(response.get("output"), list):
            items = response["output"]
        outcome.tokens, outcome.model = answer_usage(values, response)
    kinds = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type"))
        if kind.endswith("_call"):
            outcome.calls.append(_call(item))
            continue
        kinds.add(kind)
        if kind == "message":
            outcome.text += _text(item)
        elif kind == "reasoning":
            outcome.reasoning.append({k: v for k, v in item.items() if k not in ("id", "status")})
    outcome.kinds = frozenset(kinds)
    if "message" not in kinds:
        outcome.text = "".join(streamed)
    return outcome


def answer_values(response_view: dict[str, Any]) -> list[Any]:
    """An HTTP response view's answer as a list: its SSE events, or its JSON body alone."""
    values = response_view.get("events")
    if values is None:
        values = [response_view["body"]] if "body" in response_view else []
    return values


def http_outcome(response_view: dict[str, Any]) -> Outcome:
    """The outcome of an HTTP exchange's response view (see rec.diff.views)."""
    if "status" not in response_view:
        return read_outcome([], None, response_view.get("error") or "no response")
    return read_outcome(answer_values(response_view), response_view["status"], response_view.get("ended"))


def close_ended(code: int | None) -> str | None:
    """How a WebSocket's close reads as an end: None for a normal one."""
    return None if code is None or code in NORMAL_CLOSE else f"close {code}"
