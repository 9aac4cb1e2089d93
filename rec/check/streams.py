"""Rule family `streams`: every recorded answer is a Responses stream a real client accepts.

The server-side counterpart of the request invariants, applied to each SSE answer of the
Responses API and to each WebSocket turn (docs/check.md says where each rule comes from):

- ``created_first``: the first event of the response is `response.created` (a stream of one
  terminal event alone, a response that ended at once, is accepted: the harness's `sse_failed`);
- ``response_id``: the lifecycle events (`created`, `in_progress`, `completed`, ...) name one response;
- ``one_terminal``: exactly one terminal event (`response.completed`, `.failed`,
  `.incomplete`, Codex's `response.done`, or a top-level `error`), after every other event
  of the response, unless the recording itself was cut;
- ``sequence``: `sequence_number`s, where present, increase;
- ``item_lifetime``: a delta comes after its item's `response.output_item.added` and
  before its `response.output_item.done`, and no item added is left unfinished at `response.completed`;
- ``item_identity``: an event's `output_index` and item id name the same item, and no two items
  are added at one `output_index`;
- ``output``: a completed response's `output` lists the items done, in order.

Only events of the response itself are held to these rules: unknown types (keepalives,
`codex.*` rate limits) and the WebSocket's steering acknowledgements
(`response.steer.*`, which may follow `response.completed`) may come anywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.check.bodies import answer_of
from rec.check.events import (
    PlainEvent,
    PlainItem,
    Stream,
    plain_sse_events,
    plain_websocket_turns,
    sse_events,
    websocket_turns,
)
from rec.check.report import Finding
from rec.sse import is_event_stream

TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "response.done", "error"})
# Terminals whose `output` is the whole list of items done (a failed or incomplete response may stop mid-item).
COMPLETE = frozenset({"response.completed", "response.done"})
# Deltas of the response itself, not of an output item (the SDK's ResponseAudioDeltaEvent has no item).
RESPONSE_DELTAS = frozenset({"response.audio.delta", "response.audio.transcript.delta"})
# Events that carry the whole response; the openai SDK's stream helper requires one id across them.
LIFECYCLE = frozenset({"response.created", "response.queued", "response.in_progress", "response.completed",
                       "response.failed", "response.incomplete", "response.done"})
# A synthesized exchange whose stream is malformed on purpose (rec synth's escape hatch): not checked.
DELIBERATE_KEY = "deliberately_malformed"


@dataclass(frozen=True)
class Problem:
    """One broken rule in one stream: which, what (naming the event), and what to do."""

    rule: str
    message: str
    fix: str


_FIX = {
    "created_first": "a stream opens with response.created (ev_response_created); re-record it or fix the scenario",
    "one_terminal": "end the stream with one response.completed/.failed/.incomplete (ev_completed), or record the cut "
                    "as a fault (cut_after=N); re-record it or fix the scenario",
    "response_id": "every lifecycle event carries the id response.created gave; re-record it or fix the scenario",
    "sequence": "sequence_numbers count up from the first event; re-record it or fix the scenario",
    "item_lifetime": "send response.output_item.added (ev_message_item_added, ...) before the item's deltas and "
                     "response.output_item.done after them; re-record it or fix the scenario",
    "item_identity": "give the event the item_id that was added at its output_index; re-record it or fix the "
                     "scenario",
    "output": "list in response.completed's output exactly the items sent as response.output_item.done; re-record "
              "it or fix the scenario",
}


@functools.lru_cache(maxsize=1024)  # a stream holds few kinds of event, over and over
def _belongs_to_response(kind: str) -> bool:
    """Whether an event is part of the response's own stream (the rest may come anywhere)."""
    return kind == "error" or (kind.startswith("response.") and not kind.startswith("response.steer."))


def stream_problems(events: Iterable[Any], *, cut: bool = False, resumed: bool = False) -> list[Problem]:
    """The broken rules of one stream's parsed events (as ``rec.check.events`` reads them whole), at most one per
    rule; [] when well formed.

    ``cut``: the recording ended mid-stream (no terminal is due). ``resumed``: the stream
    continues an earlier one (a retrieve with `starting_after`), so it starts mid-response.
    """
    return _problems(list(events), cut=cut, resumed=resumed)


def _problems(events: list[Any], *, cut: bool, resumed: bool) -> list[Problem]:
    """Every rule over the stream, each naming the event that breaks it."""
    typed: list[tuple[int, dict[str, Any]]] = []
    own: list[tuple[int, dict[str, Any]]] = []
    for n, event in enumerate(events):
        if isinstance(event, dict) and isinstance(kind := event.get("type"), str):
            typed.append((n, event))
            if _belongs_to_response(kind):
                own.append((n, event))
    if not own:
        return [] if cut else [Problem("one_terminal", "the stream holds no event of a response", _FIX["one_terminal"])]
    found = [
        None if resumed else _created_first(own),
        _response_id(own),
        _one_terminal(own, cut),
        _sequence(typed),
        *_items(own, resumed),
    ]
    return [problem for problem in found if problem is not None]


# What an event's type makes of it in the one pass: none of the response's own (it may come anywhere), an item's
# delta (most events), or any other event of the response (a few per stream).
_ELSEWHERE, _DELTA, _OWN = range(3)


# The role of each kind of event seen: a stream holds few kinds, over and over (a dict read in the loop costs less
# than a call); forgotten past ROLES_KEPT kinds.
_ROLES: dict[str, int] = {}
ROLES_KEPT = 1024


def _role(kind: str) -> int:
    """The role of an event of a kind not seen yet, remembered."""
    if len(_ROLES) >= ROLES_KEPT:
        _ROLES.clear()
    role = _ROLES[kind] = _ELSEWHERE if not _belongs_to_response(kind) else _DELTA if kind.endswith(".delta") else _OWN
    return role


# Below any sequence_number read plainly.
_BEFORE_ANY_NUMBER = -(2**63) - 1


def _plainly_well_formed(events: list[PlainEvent]) -> bool:
    """Whether a stream read plainly is well formed as the API streams: response.created first, one terminal last,
    one response id, sequence_numbers counting up, and each item added, streamed into and done by its own id at
    its own output_index, then listed as done.

    True means every rule passes on the stream read whole (tests/check/test_check_streams.py holds it to that,
    over streams broken every way); False means nothing, and the rules look. It is one pass that does little per
    delta, so a well-formed stream costs little; a rule added to stream_problems must be enforced here too.
    """
    last_number = _BEFORE_ANY_NUMBER
    response_id: str | None = None
    opened = ended = False
    open_at: dict[int | None, str] = {}  # output_index -> the id of the item open there (none once it ended)
    added_at: dict[int, str] = {}  # output_index -> the id of the item added there
    ids: set[str] = set()
    done: list[tuple[int | None, str]] = []  # (output_index, identity) of each item done
    listed: list[str] | None = None  # the identities the completed response lists
    for event in events:
        kind = event.type
        number = event.sequence_number
        if number is not None:
            if number <= last_number:
                return False
            last_number = number
        try:
            role = _ROLES[kind]
        except KeyError:
            role = _role(kind)
        if role == _DELTA:
            # Its item open at its index: so after response.created and before the terminal, whose pass empties
            # open_at; no delta is a lifecycle or terminal event.
            try:
                if open_at[event.output_index] != event.item_id:
                    return False
            except KeyError:
                return False
            continue
        if role == _ELSEWHERE:
            continue
        if ended or opened is (kind == "response.created"):  # after the terminal; created not first, or again
            return False
        opened = True
        index = event.output_index
        if kind.startswith("response.output_item."):
            item = event.item
            item_id = None if item is None else item.id
            if index is None or item is None or item_id is None:
                return False
            if kind == "response.output_item.added":
                if index in added_at or item_id in ids:
                    return False
                open_at[index] = added_at[index] = item_id
                ids.add(item_id)
            elif kind == "response.output_item.done" and open_at.get(index) == item_id:
                del open_at[index]
                done.append((index, _identity(item)))
            else:
                return False
        elif index is not None and (item_id := event.item_id) is not None and added_at.get(index, item_id) != item_id:
            return False
        response = event.response
        if kind in LIFECYCLE and response is not None and response.id is not None:
            if response_id is None:
                response_id = response.id
            elif response.id != response_id:
                return False
        if kind in TERMINAL:
            if kind in COMPLETE:
                if open_at:
                    return False
                listed = None if response is None or response.output is None else list(map(_identity, response.output))
            ended = True
            open_at.clear()
    return ended and not (listed and done and listed != _streamed(done))


def _at(n: int, event: dict[str, Any]) -> str:
    return f"event {n} ({event['type']})"


def _created_first(own: list[tuple[int, dict[str, Any]]]) -> Problem | None:
    n, first = own[0]
    if first["type"] == "response.created" or (len(own) == 1 and first["type"] in TERMINAL):
        return None
    return Problem("created_first", f"{_at(n, first)} comes before response.created", _FIX["created_first"])


def _response_id(own: list[tuple[int, dict[str, Any]]]) -> Problem | None:
    first_id: str | None = None
    for n, event in own:
        response = event.get("response") if event["type"] in LIFECYCLE else None
        response_id = response.get("id") if isinstance(response, dict) else None
        if not isinstance(response_id, str):
            continue
        if first_id is None:
            first_id = response_id
        elif response_id != first_id:
            return Problem("response_id", f"{_at(n, event)} is for response {response_id!r}, the stream's is "
                           f"{first_id!r}", _FIX["response_id"])
    return None


def _one_terminal(own: list[tuple[int, dict[str, Any]]], cut: bool) -> Problem | None:
    terminals = [(n, e) for n, e in own if e["type"] in TERMINAL]
    if not terminals:
        return None if cut else Problem(
            "one_terminal", "no terminal event (response.completed, .failed, .incomplete or error) ends the stream",
            _FIX["one_terminal"])
    if len(terminals) > 1:
        (n, first), (m, second) = terminals[:2]
        return Problem("one_terminal", f"{_at(m, second)} is a second terminal event, after {_at(n, first)}",
                       _FIX["one_terminal"])
    n, terminal = terminals[0]
    after = next(((m, e) for m, e in own if m > n), None)
    if after is not None:
        return Problem("one_terminal", f"{_at(*after)} comes after the terminal {_at(n, terminal)}",
                       _FIX["one_terminal"])
    return None


def _sequence(typed: list[tuple[int, dict[str, Any]]]) -> Problem | None:
    last: int | None = None
    for n, event in typed:
        number = event.get("sequence_number")
        if isinstance(number, int) and not isinstance(number, bool):
            if last is not None and number <= last:
                return Problem("sequence", f"{_at(n, event)} has sequence_number {number}, not above {last}",
                               _FIX["sequence"])
            last = number
    return None


@dataclass
class _Item:
    index: int | None
    id: str | None
    opened_at: int
    closed_at: int | None = None


def _items(own: list[tuple[int, dict[str, Any]]], resumed: bool) -> list[Problem | None]:
    """``item_lifetime``, ``item_identity`` and ``output`` over the output items' events."""
    items: list[_Item] = []
    lifetime: Problem | None = None
    identity: Problem | None = None
    done: list[tuple[int | None, Any]] = []
    # The (item_id, output_index) of deltas already checked since the items last changed: a delta naming them
    # again finds what the first found (a stream's deltas name one item over and over).
    settled: set[tuple[str | None, int | None]] = set()
    first_at: dict[int, _Item] = {}  # output_index -> the first item added there
    named_at: dict[int, str] = {}  # output_index -> the id of the latest item added there with an id
    completed: tuple[int, dict[str, Any]] | None = None
    for n, event in own:
        kind = event["type"]
        index = event.get("output_index")
        index = index if isinstance(index, int) else None
        if kind.startswith("response.output_item."):
            item = event.get("item")
            item = item if isinstance(item, dict) else None
            item_id = None if item is None else item.get("id")
        else:
            item, item_id = None, event.get("item_id")
        item_id = item_id if isinstance(item_id, str) else None
        delta = kind.endswith(".delta") and not (kind in RESPONSE_DELTAS and item_id is None and index is None)
        if delta and (item_id, index) in settled:
            continue
        if identity is None and index is not None and item_id is not None and kind != "response.output_item.added":
            added = named_at.get(index)
            if added not in (None, item_id):
                identity = Problem("item_identity", f"{_at(n, event)} names item {item_id!r} at output_index "
                                   f"{index}, where {added!r} was added", _FIX["item_identity"])
        if kind == "response.output_item.added" and item is not None:
            twin = None if index is None else first_at.get(index)
            if twin is not None and identity is None:
                identity = Problem("item_identity", f"{_at(n, event)} adds a second item at output_index {index} "
                                   f"(event {twin.opened_at} added the first)", _FIX["item_identity"])
            items.append(_Item(index, item_id, n))
            if index is not None:
                first_at.setdefault(index, items[-1])
                if item_id is not None:
                    named_at[index] = item_id
            settled.clear()
        elif kind == "response.output_item.done" and item is not None:
            match = _find_open(items, item_id, index)
            if match is not None:
                match.closed_at = n
            done.append((index, item))
            settled.clear()
        elif delta:
            if lifetime is None:
                lifetime = _delta_lifetime(n, event, items, item_id, index, own, resumed)
            settled.add((item_id, index))
        elif kind in COMPLETE:
            completed = (n, event)
            if lifetime is None:
                lifetime = _unfinished(n, event, items)
    return [lifetime, identity, None if resumed else _output(completed, done)]


def _unfinished(n: int, event: dict[str, Any], items: list[_Item]) -> Problem | None:
    """An item still open at a completed response, unless the response lists it (the openai SDK's rule)."""
    response = event.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    # Only a text id can name an item (an id of any other JSON value names none, and may not even be hashable).
    listed = {item.get("id") for item in output if isinstance(item, dict) and isinstance(item.get("id"), str)} \
        if isinstance(output, list) else set()
    for item in items:
        if item.closed_at is None and (item.id is None or item.id not in listed):
            named = f"item {item.id!r}" if item.id is not None else f"the item at output_index {item.index}"
            return Problem("item_lifetime", f"{_at(n, event)} completes the response while {named} (added at event "
                           f"{item.opened_at}) has no response.output_item.done", _FIX["item_lifetime"])
    return None


def _find_open(items: list[_Item], item_id: str | None, index: int | None) -> _Item | None:
    """The open item an event names: by id, else by output_index, else (neither named) the latest open one."""
    open_items = [i for i in items if i.closed_at is None]
    if item_id is not None and any(i.id == item_id for i in items):
        return next((i for i in reversed(open_items) if i.id == item_id), None)
    if index is not None:
        return next((i for i in reversed(open_items) if i.index == index), None)
    return open_items[-1] if open_items and item_id is None else None


def _delta_lifetime(n: int, event: dict[str, Any], items: list[_Item], item_id: str | None, index: int | None,
                    own: list[tuple[int, dict[str, Any]]], resumed: bool) -> Problem | None:
    if _find_open(items, item_id, index) is not None:
        return None
    named = f"item {item_id!r}" if item_id is not None else (
        f"the item at output_index {index}" if index is not None else "an item")
    if any(_names(item_id, index, i.id, i.index) for i in items):
        where = "after its response.output_item.done"
    elif any(e["type"] == "response.output_item.added" and m > n and isinstance(e.get("item"), dict)
             and _names(item_id, index, e["item"].get("id"), e.get("output_index")) for m, e in own):
        where = "before its response.output_item.added"
    elif resumed:
        return None  # the item was added before the point the stream resumed from
    else:
        where = "with no response.output_item.added for it"
    return Problem("item_lifetime", f"{_at(n, event)} for {named} comes {where}", _FIX["item_lifetime"])


def _names(item_id: str | None, index: int | None, other_id: Any, other_index: Any) -> bool:
    """Whether an event naming (``item_id``, ``index``) means the item (``other_id``, ``other_index``)."""
    if item_id is not None:
        return other_id == item_id or (other_id is None and other_index == index)
    return index is None or other_index == index


def _identity(item: Any) -> str:
    """What names an item in a response's output: its id, else its call_id, else its type."""
    if isinstance(item, PlainItem):
        return str(item.id or item.call_id or item.type)
    if not isinstance(item, dict):
        return repr(item)
    return str(item.get("id") or item.get("call_id") or item.get("type"))


def _streamed(done: list[tuple[int | None, str]]) -> list[str]:
    """The identities of the items done, in the order a response lists them: by output_index, and a done without an
    index in its place in the stream."""
    order = sorted(range(len(done)), key=lambda k: (done[k][0] if done[k][0] is not None else k, k))
    return [done[k][1] for k in order]


def _output(completed: tuple[int, dict[str, Any]] | None, done: list[tuple[int | None, Any]]) -> Problem | None:
    """``completed``: the stream's last response.completed (or .done), as (its number, the event)."""
    if completed is None:
        return None
    n, final = completed
    response = final.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list) or not output or not done:
        return None  # a response that lists no items, or a stream that sent none, says nothing to compare
    listed = [_identity(item) for item in output]
    streamed = _streamed([(index, _identity(item)) for index, item in done])
    if listed == streamed:
        return None
    return Problem("output", f"{_at(n, final)} lists the output {listed}, but the items done were {streamed}",
                   _FIX["output"])


# --- exchanges -----------------------------------------------------------------------------------


def stream_findings(path: str, index: int, exchange: Exchange, answer: bytes | None = None) -> list[Finding]:
    """Rule family `streams` over one exchange: its SSE answer, or each of its WebSocket turns. ``answer``: the
    response body as ``answer_of`` reads it, when the caller has read it already.

    An answer whose streams all read plainly and are plainly well formed breaks no rule; any other is read whole
    and goes through every rule.
    """
    if not isinstance(exchange, HttpExchange | WebSocketExchange) or exchange.extra.get(DELIBERATE_KEY):
        return []  # a record of a kind this rec does not know, or a fault a scenario meant
    streams: list[Stream]
    if isinstance(exchange, HttpExchange):
        body = _sse_answer(exchange, answer)
        if body is None:
            return []
        plain = plain_sse_events(body)
        if plain is not None and _plainly_well_formed(plain):
            return []
        resumed = exchange.request.method == "GET" and any(name == "starting_after"
                                                           for name, _ in exchange.request.query)
        streams = [("SSE answer", sse_events(body), exchange.end.state == "error", resumed)]
    else:
        turns = plain_websocket_turns(exchange)
        if turns is not None and all(_plainly_well_formed(events) for _, events, _, _ in turns):
            return []
        streams = websocket_turns(exchange)
    return [Finding(path, index, "streams", f"{where}: {problem.rule}: {problem.message}", problem.fix)
            for where, events, cut, resumed in streams for problem in stream_problems(events, cut=cut, resumed=resumed)]


@functools.lru_cache(maxsize=1024)  # a cassette's requests go to few paths, over and over
def _is_responses_path(path: str) -> bool:
    """`.../responses` (create) or `.../responses/{id}` (retrieve, which can stream), not compact or input items."""
    parts = urlsplit(path).path.rstrip("/").split("/")
    if parts[-1] == "responses":
        return True
    return len(parts) >= 2 and parts[-2] == "responses" and parts[-1] not in ("compact", "input_items", "cancel")


def _sse_answer(exchange: HttpExchange, answer: bytes | None) -> bytes | None:
    """The body of an SSE answer of the Responses API, the stream the rules hold; None for any other answer."""
    response = exchange.response
    if (response is None or response.status >= 400 or not is_event_stream(response.header("content-type"))
            or not _is_responses_path(exchange.request.path)):
        return None
    return answer if answer is not None else answer_of(exchange) or b""
