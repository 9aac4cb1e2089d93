"""Judging an aligned pair of exchanges: the reasons, each from one rule of rec.diff.rules.

The order of the checks is the order a reviewer reads: first how the answer ended (HTTP
status, a cut stream, an `error` event, the final status); an end that got worse or better
explains everything after it, so the output is then not judged. Otherwise the output: tool
calls, the kinds of items, the shape of a JSON answer; then what is benign (wording,
reasoning, tokens). Requests are compared apart, without what they echo of earlier answers.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from typing import Any

from rec.cassette import Exchange, WebSocketExchange
from rec.diff.outcome import Call, Outcome, close_ended, http_outcome, parsed_arguments, read_outcome
from rec.diff.rules import Reason, Rules, Where

ABSENT = object()
# Input items that echo what a model said before (besides its tool calls, `*_call`): the client sends
# them back, it does not choose them.
ECHOED_ROLES = frozenset({"assistant"})
ECHOED_TYPES = frozenset({"reasoning", "compaction"})


def _step(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)


def first_difference(old: Any, new: Any) -> tuple[str, Any, Any] | None:
    """The first place two JSON values differ, as (path, old value, new value); ABSENT where a side has none.

    Walked with a stack, not recursion, so any depth is safe.
    """
    stack: list[tuple[str, Any, Any]] = [("", old, new)]
    while stack:
        path, a, b = stack.pop()
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = [*a, *(k for k in b if k not in a)]
            stack.extend((_step(path, k), a.get(k, ABSENT), b.get(k, ABSENT)) for k in reversed(keys))
        elif isinstance(a, list) and isinstance(b, list):
            stack.extend((_step(path, n), a[n] if n < len(a) else ABSENT, b[n] if n < len(b) else ABSENT)
                         for n in reversed(range(max(len(a), len(b)))))
        else:
            return path, a, b
    return None


def clip(value: Any, width: int = 40) -> str:
    if value is ABSENT:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


_INPUT_ITEM = re.compile(r"^input\[(\d+)\]")


def describe_difference(old: Any, new: Any, old_request: Any = None, new_request: Any = None) -> str:
    """`` at PATH: OLD → NEW`` for the first difference; an input item's place is counted in the request as sent
    (``old_request``, ``new_request``), echoed items included."""
    found = first_difference(old, new)
    if found is None:
        return ""
    path, a, b = found
    item = _INPUT_ITEM.match(path)
    if item and isinstance(new_request, dict) and isinstance(old_request, dict):
        sent = new_request if b is not ABSENT or a is ABSENT else old_request
        path = f"input[{_sent_index(sent.get('input'), int(item.group(1)))}]" + path[item.end():]
    if isinstance(a, str) and isinstance(b, str):
        a, b = _from_first_change(a, b)
    return f"{' at ' + path if path else ''}: {clip(a)} → {clip(b)}"


def _from_first_change(a: str, b: str, context: int = 12) -> tuple[str, str]:
    """Two strings that differ past what a clip shows, from a little before the change, so it shows."""
    same = _common_prefix(a, b)
    if same < 30:
        return a, b
    return "…" + a[same - context:], "…" + b[same - context:]


def _common_prefix(a: str, b: str) -> int:
    """How many characters two strings share at their start (slices compared in C, halving: large bodies too)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _sent_index(items: Any, own: int) -> int:
    """The place, among all input items, of the ``own``-th item that is not an echo."""
    owned = [n for n, item in enumerate(items if isinstance(items, list) else []) if not _echoes(item)]
    return owned[own] if own < len(owned) else own


def _shape(value: Any) -> Any:
    """A JSON value's keys and types without its values (depth is bounded by the parse)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in map(_shape, value):
            if item not in shapes:
                shapes.append(item)
        return shapes
    return {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), "null")


def _structured(text: str) -> Any:
    value = parsed_arguments(text.strip()) if text.strip()[:1] in ("{", "[") else None
    return value if isinstance(value, dict | list) else None


def _status(value: str | None) -> str:
    return value or "no final event"


def _http(status: int | None) -> str:
    return str(status) if status is not None else "no response"


def _status_class(status: int | None) -> int:
    return 6 if status is None else status // 100


class Judge:
    """Compares the parts of two exchanges under one set of rules."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    # --- how an answer ended ------------------------------------------------------------

    def ending(self, old: Outcome, new: Outcome, where: Where) -> list[Reason]:
        """How the end of the answer changed: worse (a regression) or better (benign); nothing when it did not."""
        reason = self.rules.reason
        old_class, new_class = _status_class(old.http_status), _status_class(new.http_status)
        if old_class != new_class and max(old_class, new_class) >= 4:
            change = f"HTTP status {_http(old.http_status)} → {_http(new.http_status)}"
            return [reason("http_status" if new_class > old_class else "recovered", change, where)]
        if old.ended != new.ended:
            if new.ended is None:
                return [reason("recovered", f"ended whole (was {old.ended})", where)]
            was = f" (was {old.ended})" if old.ended else ""
            return [reason("stream_end", f"ended early: {new.ended}{was}", where)]
        found = []
        added = [e for e in new.errors if e not in old.errors] or new.errors[len(old.errors):]
        if len(new.errors) > len(old.errors):
            found.append(reason("error_event", f"error event: {', '.join(added)}", where))
        elif len(new.errors) < len(old.errors):
            found.append(reason("recovered", f"no error event (was {', '.join(old.errors)})", where))
        if old.status != new.status:
            change = f"status {_status(old.status)} → {_status(new.status)}"
            if new.status == "completed":
                found.append(reason("recovered", change, where))
            elif not (new.status is None and len(new.errors) > len(old.errors)):  # the error event says it
                found.append(reason("status", change, where))
        return found

    # --- what it output -----------------------------------------------------------------

    def calls(self, old: list[Call], new: list[Call], where: Where) -> Iterator[Reason]:
        reason = self.rules.reason
        blocks = difflib.SequenceMatcher(a=[c.name for c in old], b=[c.name for c in new], autojunk=False)
        for op, i1, i2, j1, j2 in blocks.get_opcodes():
            both = min(i2 - i1, j2 - j1)
            for i, j in zip(range(i1, i1 + both), range(j1, j1 + both), strict=True):
                before, after = old[i], new[j]
                if before.name != after.name:
                    yield reason("tool_call_renamed", f"tool call {i + 1} renamed {before.name} → {after.name}", where)
                elif before.arguments != after.arguments:
                    change = describe_difference(before.arguments, after.arguments)
                    yield reason("tool_arguments", f"tool call {i + 1} ({before.name}) arguments changed{change}",
                                 where)
            if op == "equal":
                continue
            for i in range(i1 + both, i2):
                yield reason("tool_call_removed", f"tool call {i + 1} removed: {old[i].name}", where)
            for j in range(j1 + both, j2):
                yield reason("tool_call_added", f"tool call {j + 1} added: {new[j].name}", where)

    def output(self, old: Outcome, new: Outcome, where: Where) -> list[Reason]:
        reason = self.rules.reason
        found = list(self.calls(old.calls, new.calls, where))
        if old.kinds != new.kinds:
            change = ", ".join([*(f"+{k}" for k in sorted(new.kinds - old.kinds)),
                                *(f"-{k}" for k in sorted(old.kinds - new.kinds))])
            found.append(reason("output_kinds", f"output items changed: {change}", where))
        old_json = _structured(old.text)
        if old_json is not None:
            new_json = _structured(new.text)
            if new_json is None:
                found.append(reason("output_shape", "the answer is no longer JSON", where))
            elif _shape(old_json) != _shape(new_json):
                change = describe_difference(_shape(old_json), _shape(new_json))
                found.append(reason("output_shape", f"the JSON answer changed shape{change}", where))
        # Text or reasoning that came or went with its item is told by output_kinds already.
        if old.text != new.text and ("message" in old.kinds) == ("message" in new.kinds):
            found.append(reason("wording", f"answer text changed{describe_difference(old.text, new.text)}", where))
        if old.reasoning != new.reasoning and ("reasoning" in old.kinds) == ("reasoning" in new.kinds):
            found.append(reason("reasoning", "reasoning changed", where))
        if old.tokens.tokens() != new.tokens.tokens():
            found.append(reason("usage", f"tokens {old.tokens.total_tokens:,} → {new.tokens.total_tokens:,}", where))
        return found

    def answer(self, old: Outcome, new: Outcome, where: Where) -> list[Reason]:
        return self.ending(old, new, where) or self.output(old, new, where)

    # --- what the client sent -----------------------------------------------------------

    def request(self, old: Any, new: Any, where: Where, what: str = "request") -> list[Reason]:
        if old == new:
            return []
        old_own, new_own = without_echoes(old), without_echoes(new)
        if old_own == new_own:
            return [self.rules.reason("echo", f"{what} differs only where it echoes earlier answers", where)]
        old_body, new_body = _body(old_own), _body(new_own)
        if old_body != new_body:
            change = describe_difference(old_body, new_body, _body(old), _body(new))
        else:
            parts = [k for k in ("method", "path", "query", "headers") if old_own.get(k) != new_own.get(k)]
            change = f": {', '.join(parts)}"
        return [self.rules.reason("request", f"{what} changed{change}", where)]

    # --- whole exchanges ----------------------------------------------------------------

    def http(self, old_view: dict[str, Any], new_view: dict[str, Any], parts: tuple[str, ...],
             where: Where) -> list[Reason]:
        found = self.request(old_view["request"], new_view["request"], where) if "request" in parts else []
        if "response" in parts and old_view["response"] != new_view["response"]:
            found += (self.answer(http_outcome(old_view["response"]), http_outcome(new_view["response"]), where)
                      or self._otherwise(old_view["response"], new_view["response"], where))
        return found

    def websocket(self, old: WebSocketExchange, new: WebSocketExchange, old_view: dict[str, Any],
                  new_view: dict[str, Any], parts: tuple[str, ...], where: Where) -> list[Reason]:
        found: list[Reason] = []
        if "request" in parts:
            old_handshake, new_handshake = ({k: v for k, v in view["request"].items() if k != "frames"}
                                            for view in (old_view, new_view))
            found += self.request(old_handshake, new_handshake, where, "handshake")
        old_opening, old_turns = turns(old, old_view)
        new_opening, new_turns = turns(new, new_view)
        if "response" in parts:
            ended = self.ending(_connection(old, old_view, old_opening), _connection(new, new_view, new_opening),
                                where)
            if ended:
                return found + ended
        for n in range(max(len(old_turns), len(new_turns))):
            at = Where(where.old, where.new, n)
            if n >= len(new_turns):
                found.append(self.rules.reason("exchange_gone", "gone", at))
            elif n >= len(old_turns):
                found.append(self.rules.reason("exchange_added", "added", at))
            else:
                (old_sent, old_got), (new_sent, new_got) = old_turns[n], new_turns[n]
                if "request" in parts:
                    found += self.request(old_sent, new_sent, at)
                if "response" in parts and old_got != new_got:
                    found += (self.answer(read_outcome(old_got), read_outcome(new_got), at)
                              or self._otherwise({"frames": old_got}, {"frames": new_got}, at))
        if "response" in parts and not found and old_view["response"] != new_view["response"]:
            found += self._otherwise(old_view["response"], new_view["response"], where)
        return found

    def exchange(self, old: Exchange, new: Exchange, old_view: dict[str, Any], new_view: dict[str, Any],
                 parts: tuple[str, ...], where: Where) -> list[Reason]:
        """Every reason two aligned exchanges differ (at least one when their views do)."""
        old_view, new_view = same_ids(old_view), same_ids(new_view)
        if isinstance(old, WebSocketExchange) and isinstance(new, WebSocketExchange):
            found = self.websocket(old, new, old_view, new_view, parts, where)
        else:
            found = self.http(old_view, new_view, parts, where)
        return found or [self.rules.reason("ids", "only ids differ", where)]

    def _otherwise(self, old: Any, new: Any, where: Where) -> list[Reason]:
        """A difference no rule above names: which parts of the response differ."""
        if not isinstance(old, dict) or not isinstance(new, dict):
            return [self.rules.reason("response_other", "response changed", where)]
        parts = [key for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]
        return [self.rules.reason("response_other", f"response changed: {', '.join(parts)}", where)]


_NUMBERED_ID = re.compile(r"<id:\d+>")


def same_ids(view: dict[str, Any]) -> dict[str, Any]:
    """A view with every masked id alike: ids are benign, and an item more or less before them renumbers them."""
    return json.loads(_NUMBERED_ID.sub("<id>", json.dumps(view, ensure_ascii=False, default=str)))


def _body(request: Any) -> Any:
    """The body of a request view; a WebSocket message is its own body."""
    if isinstance(request, dict) and "method" in request:
        return request.get("body", ABSENT)
    return request


def without_echoes(value: Any) -> Any:
    """A request (view, body or WebSocket message) without the input items that echo earlier answers."""
    if not isinstance(value, dict):
        return value
    if "method" in value and isinstance(value.get("body"), dict):
        return {**value, "body": without_echoes(value["body"])}
    items = value.get("input")
    if not isinstance(items, list):
        return value
    return {**value, "input": [item for item in items if not _echoes(item)]}


def _echoes(item: Any) -> bool:
    """An input item the model made (its message, reasoning, tool call, compaction): the client only sends it back."""
    if not isinstance(item, dict):
        return False
    kind = str(item.get("type"))
    return item.get("role") in ECHOED_ROLES or kind in ECHOED_TYPES or kind.endswith("_call")


def _connection(exchange: WebSocketExchange, view: dict[str, Any], opening: list[Any]) -> Outcome:
    """How a WebSocket connection went as a whole: the handshake's status, what came before a turn, the close."""
    return read_outcome(opening, exchange.response.status, close_ended(view["response"]["close"]))


def turns(exchange: WebSocketExchange, view: dict[str, Any]) -> tuple[list[Any], list[tuple[Any, list[Any]]]]:
    """(server messages before the first client message, [(client message, server messages after it), ...]),
    as normalized values from the exchange's view."""
    sent = iter(view["request"]["frames"])
    got = iter(view["response"]["frames"])
    opening: list[Any] = []
    result: list[tuple[Any, list[Any]]] = []
    for frame in exchange.frames:
        if frame.from_client:
            result.append((next(sent), []))
        else:
            (result[-1][1] if result else opening).append(next(got))
    return opening, result
