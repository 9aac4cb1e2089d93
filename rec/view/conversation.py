"""A conversation rebuilt from a request and the events that answered it, the way a client assembles it.

A client keeps the output items in order: an ``output_item.added`` opens an item, deltas
grow its text, arguments or summary, ``output_item.done`` replaces it with the final one,
and a terminal ``response.completed`` (or ``failed``, ``incomplete``) that carries an
``output`` is the last word. A stream cut before its items were done leaves them partial,
and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

Item = dict[str, Any]
Event = dict[str, Any]

def _copy(value: Any) -> Any:
    """A deep copy (items grow under deltas; the events they came from stay as received)."""
    return orjson.loads(orjson.dumps(value))


TERMINAL_EVENTS = ("response.completed", "response.failed", "response.incomplete", "response.done")
# Response fields a page shows; the rest (tools, instructions echoed back, ...) is in the raw event.
_RESPONSE_FIELDS = ("id", "status", "model", "usage", "error", "incomplete_details")


def input_items(body: Any) -> list[Item]:
    """A request's input as items: a string input is one user message, as the API takes it."""
    if not isinstance(body, dict):
        return []
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": given}]}]
    return [item for item in given if isinstance(item, dict)] if isinstance(given, list) else []


def item_text(item: Item) -> str:
    """The text of a message item (its text parts joined), or "" for other items."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(str(part.get("text") or part.get("refusal") or "") for part in content if isinstance(part, dict))


def last_user_text(items: list[Item]) -> str:
    """What the user said last: the text of the last user message."""
    for item in reversed(items):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            return item_text(item)
    return ""


@dataclass
class Assembly:
    """One response as a client builds it from the events it received."""

    response: dict[str, Any] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    done: list[bool] = field(default_factory=list)
    terminal: str | None = None  # the type of the terminal event, when one came
    error: Any = None
    current: int | None = None  # the item that deltas without an index or id belong to

    def feed(self, event: Event) -> None:
        handler = _HANDLERS.get(str(event.get("type", "")))
        if handler is not None:
            handler(self, event)

    def output(self) -> list[dict[str, Any]]:
        """Each output item with whether it was finished (an item left open by a cut is partial)."""
        return [{"item": item, "done": done} for item, done in zip(self.items, self.done, strict=True)]

    def summary(self) -> dict[str, Any]:
        response = {key: self.response[key] for key in _RESPONSE_FIELDS if self.response.get(key) is not None}
        if self.error is not None:
            response["error"] = self.error
        if self.terminal is None and "status" not in response and (self.response or self.items):
            response["status"] = "in_progress"  # it began, and no terminal event came
        return response

    # --- finding the item an event is about ---------------------------------------------

    def _index_of(self, event: Event, item: Item | None = None) -> int | None:
        wanted = event.get("item_id") or (item or {}).get("id")
        if wanted:
            for index, known in enumerate(self.items):
                if known.get("id") == wanted:
                    return index
        call_id = (item or {}).get("call_id")
        if call_id:
            for index, known in enumerate(self.items):
                if known.get("call_id") == call_id:
                    return index
        position = event.get("output_index")
        if isinstance(position, int) and 0 <= position < len(self.items):
            return position
        return None if item is not None else self.current

    def _place(self, event: Event, item: Item, done: bool) -> None:
        index = self._index_of(event, item)
        if index is None:
            self.items.append(item)
            self.done.append(done)
            index = len(self.items) - 1
        else:
            self.items[index] = item
            self.done[index] = done
        self.current = index

    def _target(self, event: Event, kind: str) -> Item:
        """The item a delta grows; a delta with no open item opens one (a client shows the text all the same)."""
        index = self._index_of(event)
        addressed = event.get("item_id") is not None or event.get("output_index") is not None
        if index is None or (not addressed and self.items[index].get("type") != kind):
            self._place(event, {"type": kind} if kind != "message" else
                        {"type": "message", "role": "assistant", "content": []}, done=False)
            index = self.current
        assert index is not None
        return self.items[index]


def _part(parts: list[Any], index: Any, kind: str) -> dict[str, Any]:
    """The part at ``index`` of a content or summary list, made when missing; the last one without an index."""
    if not isinstance(index, int):
        index = len(parts) - 1 if parts else 0
    while len(parts) <= index:
        parts.append({"type": kind, "text": ""})
    if not isinstance(parts[index], dict):
        parts[index] = {"type": kind, "text": ""}
    return parts[index]


def _list(item: Item, key: str) -> list[Any]:
    value = item.get(key)
    if not isinstance(value, list):
        value = item[key] = []
    return value


def _on_response(assembly: Assembly, event: Event) -> None:
    response = event.get("response")
    if isinstance(response, dict):
        assembly.response.update({k: v for k, v in response.items() if k != "output"})


def _on_terminal(assembly: Assembly, event: Event) -> None:
    _on_response(assembly, event)
    assembly.terminal = str(event["type"])
    response = event.get("response")
    if not isinstance(response, dict):
        response = {}
    status = {"response.completed": "completed", "response.failed": "failed",
              "response.incomplete": "incomplete"}.get(assembly.terminal)
    if status and not response.get("status"):
        assembly.response["status"] = status
    output = response.get("output")
    if isinstance(output, list) and output:  # the terminal event's output is the last word
        assembly.items = [_copy(item) for item in output if isinstance(item, dict)]
        assembly.done = [True] * len(assembly.items)


def _on_item(done: bool) -> Callable[[Assembly, Event], None]:
    def handle(assembly: Assembly, event: Event) -> None:
        item = event.get("item")
        if isinstance(item, dict):
            assembly._place(event, _copy(item), done)
    return handle


def _on_content_part(assembly: Assembly, event: Event) -> None:
    part = event.get("part")
    if isinstance(part, dict):
        parts = _list(assembly._target(event, "message"), "content")
        _part(parts, event.get("content_index"), str(part.get("type", "output_text"))).update(_copy(part))


def _on_text(key: str, part_kind: str, item_kind: str, parts_key: str, index_key: str,
             whole: bool) -> Callable[[Assembly, Event], None]:
    """A handler that grows (a delta) or sets (a done event) the text of one part of an item."""
    def handle(assembly: Assembly, event: Event) -> None:
        part = _part(_list(assembly._target(event, item_kind), parts_key), event.get(index_key), part_kind)
        if whole:
            if isinstance(event.get(key), str):
                part["text" if key != "refusal" else "refusal"] = event[key]
        elif isinstance(event.get("delta"), str):
            field_name = "refusal" if part_kind == "refusal" else "text"
            part[field_name] = str(part.get(field_name) or "") + event["delta"]
    return handle


def _on_field(name: str, item_kind: str, whole: bool) -> Callable[[Assembly, Event], None]:
    """A handler that grows or sets a string field of an item (function arguments, a custom tool's input)."""
    def handle(assembly: Assembly, event: Event) -> None:
        item = assembly._target(event, item_kind)
        if whole:
            if isinstance(event.get(name), str):
                item[name] = event[name]
        elif isinstance(event.get("delta"), str):
            item[name] = str(item.get(name) or "") + event["delta"]
    return handle


def _on_error(assembly: Assembly, event: Event) -> None:
    assembly.error = event.get("error") if isinstance(event.get("error"), dict) else {
        k: v for k, v in event.items() if k != "type"}


# What each event does to the response being assembled; events not named here change nothing.
_HANDLERS: dict[str, Callable[[Assembly, Event], None]] = {
    "response.created": _on_response,
    "response.in_progress": _on_response,
    **{kind: _on_terminal for kind in TERMINAL_EVENTS},
    "response.output_item.added": _on_item(done=False),
    "response.output_item.done": _on_item(done=True),
    "response.content_part.added": _on_content_part,
    "response.content_part.done": _on_content_part,
    "response.output_text.delta": _on_text("delta", "output_text", "message", "content", "content_index", False),
    "response.output_text.done": _on_text("text", "output_text", "message", "content", "content_index", True),
    "response.refusal.delta": _on_text("delta", "refusal", "message", "content", "content_index", False),
    "response.refusal.done": _on_text("refusal", "refusal", "message", "content", "content_index", True),
    "response.reasoning_summary_text.delta": _on_text("delta", "summary_text", "reasoning", "summary",
                                                      "summary_index", False),
    "response.reasoning_summary_text.done": _on_text("text", "summary_text", "reasoning", "summary",
                                                     "summary_index", True),
    "response.reasoning_text.delta": _on_text("delta", "reasoning_text", "reasoning", "content", "content_index",
                                              False),
    "response.reasoning_text.done": _on_text("text", "reasoning_text", "reasoning", "content", "content_index", True),
    "response.function_call_arguments.delta": _on_field("arguments", "function_call", False),
    "response.function_call_arguments.done": _on_field("arguments", "function_call", True),
    "response.custom_tool_call_input.delta": _on_field("input", "custom_tool_call", False),
    "response.custom_tool_call_input.done": _on_field("input", "custom_tool_call", True),
    "error": _on_error,
}


def assemble(events: Iterable[Any]) -> Assembly:
    """The response a client holds after these events (JSON values; anything else is skipped)."""
    assembly = Assembly()
    for event in events:
        if isinstance(event, dict):
            assembly.feed(event)
    return assembly


def from_body(body: Any) -> Assembly:
    """The response of a whole JSON answer: a Response object, a compaction's ``output``, or an error."""
    assembly = Assembly()
    if not isinstance(body, dict):
        return assembly
    if isinstance(body.get("output"), list):
        assembly.items = [_copy(item) for item in body["output"] if isinstance(item, dict)]
        assembly.done = [True] * len(assembly.items)
    assembly.response = {k: v for k, v in body.items() if k in _RESPONSE_FIELDS}
    assembly.terminal = "body"
    if isinstance(body.get("error"), dict):
        assembly.error = body["error"]
    return assembly


def request_facts(body: Any) -> dict[str, Any]:
    """What a page says about a request beside its input: model, instructions, tools, chaining."""
    if not isinstance(body, dict):
        return {}
    facts: dict[str, Any] = {}
    for key in ("model", "instructions", "previous_response_id", "generate", "stream", "type"):
        if body.get(key) is not None:
            facts[key] = body[key]
    tools = body.get("tools")
    if isinstance(tools, list):
        facts["tools"] = [str(t.get("name") or t.get("type") or "?") for t in tools if isinstance(t, dict)]
    return facts
