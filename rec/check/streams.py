"""Well-formed answers: the server-side counterpart of the request invariants.

What the Responses API does on every stream (SSE over HTTP, or one WebSocket turn), and
clients rely on (the Codex CLI fails on a delta whose item was never added):

1. the first event is `response.created`;
2. exactly one terminal event (`response.completed`, `response.failed`,
   `response.incomplete`, Codex's `response.done`, or a top-level `error`) ends it, unless
   the recording itself was cut;
3. `sequence_number`s, where present, increase;
4. a delta (`response.output_text.delta`, `response.function_call_arguments.delta`,
   reasoning deltas, ...) comes after the `response.output_item.added` of its item and
   before that item's `response.output_item.done`;
5. an event's `output_index` and `item_id` name the same item;
6. the terminal response's `output`, when it lists items, lists the items done, in order.

Unknown event types (`response.in_progress`, keepalives, `codex.*` rate-limit events) are
fine: only what the rules name is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "response.done", "error"})


def stream_problems(events: Iterable[Any], cut: bool) -> list[str]:
    """What breaks the rules in one stream's parsed events (non-objects are skipped); [] when well formed."""
    problems: list[str] = []
    seen = [event for event in events if isinstance(event, dict) and isinstance(event.get("type"), str)]
    if not seen:
        return [] if cut else ["the stream has no events"]
    if seen[0]["type"] != "response.created":
        problems.append(f"the first event is {seen[0]['type']!r}, not 'response.created'")
    terminals = [n for n, event in enumerate(seen) if event["type"] in TERMINAL]
    if not cut:
        if not terminals:
            problems.append("no terminal event (response.completed, .failed or .incomplete) ends the stream")
        elif len(terminals) > 1:
            problems.append(f"{len(terminals)} terminal events; exactly one ends a stream")
        elif terminals[0] != len(seen) - 1:
            problems.append(f"{seen[-1]['type']!r} comes after the terminal {seen[terminals[0]]['type']!r}")
    problems += _sequence_problems(seen)
    problems += _item_problems(seen)
    return problems


def _sequence_problems(events: list[dict[str, Any]]) -> list[str]:
    last = None
    for event in events:
        number = event.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            if last is not None and number <= last:
                return [f"sequence_number {number} of {event['type']!r} does not increase (after {last})"]
            last = number
    return []


def _item_problems(events: list[dict[str, Any]]) -> list[str]:
    """Rules 4, 5 and 6: deltas inside their item's lifetime, indexes and ids agreeing, the output as done."""
    added_at: dict[int, str | None] = {}  # output_index -> item id
    open_items: set[Any] = set()  # item ids (or indexes, for items without an id) added and not done
    done_items: list[Any] = []
    for event in events:
        kind = event["type"]
        index = event.get("output_index")
        item = event.get("item") if isinstance(event.get("item"), dict) else None
        if kind == "response.output_item.added" and item is not None:
            added_at[index] = item.get("id")
            open_items.add(item.get("id") or ("index", index))
        elif kind == "response.output_item.done" and item is not None:
            open_items.discard(item.get("id") or ("index", index))
            done_items.append(item)
        elif kind.endswith(".delta"):
            item_id = event.get("item_id")
            if index in added_at and item_id is not None and added_at[index] not in (None, item_id):
                return [f"{kind!r} names item {item_id!r} at output_index {index}, where {added_at[index]!r} "
                        "was added"]
            key = item_id if item_id is not None else ("index", index)
            if (item_id is not None or index is not None) and key not in open_items:
                was_done = any(done.get("id") == item_id for done in done_items if item_id is not None)
                where = "after its item was done" if was_done else "before its item was added"
                return [f"{kind!r} for item {item_id or index!r} comes {where} (response.output_item.added/done)"]
    return _output_problems(events, done_items)


def _output_problems(events: list[dict[str, Any]], done_items: list[Any]) -> list[str]:
    final = next((e.get("response") for e in reversed(events) if e["type"] in TERMINAL), None)
    output = final.get("output") if isinstance(final, dict) else None
    if not output or not done_items:
        return []  # a terminal response that lists no items, or a stream that streamed none, says nothing
    listed = [_identity(item) for item in output]
    streamed = [_identity(item) for item in done_items]
    if listed != streamed:
        return [f"the terminal response's output {listed} is not the items done {streamed}"]
    return []


def _identity(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    return str(item.get("id") or item.get("call_id") or item.get("type"))
