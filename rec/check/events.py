"""A recorded answer's events, read two ways for the `streams` rules.

Whole: ``sse_events`` and ``websocket_turns`` parse each event's JSON into what it holds, for
every rule to read. Plainly: ``plain_sse_events`` and ``plain_websocket_turns`` read only the
fields the one-pass check of a well-formed stream looks at (``PlainEvent``); msgspec decodes
them into Structs and skips the rest (texts, whole response objects and items) without building
it. An event that cannot be read plainly (data that is not a JSON object, no type, a field of
another type than the API gives it) makes the whole answer None: the rules read it whole.

Both readings take the same events with the same values of those fields: an event's data is the
document orjson parses, and where orjson refuses a document msgspec reads (a number past a
double's range, nesting orjson stops at, both of which Python's json reads), the fields
``PlainEvent`` names (tests/check/test_check_events.py holds the two readings to each other).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

import msgspec
import orjson

from rec.cassette import WebSocketExchange
from rec.sse import split_events

# A whole number orjson and msgspec both read into an int. Past 2**64 orjson reads a float (which no rule takes for a
# number) where msgspec reads an int, and msgspec bounds an int no further than 64 bits: an event with a bigger number
# in a field the rules read is read whole.
Whole = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

# The plain Structs stay out of the garbage collector's rounds (gc=False: a tenth less to read an event), as none can
# reach itself.


class PlainItem(msgspec.Struct, gc=False):
    """An output item as a stream names it: by what a response's output identifies it."""

    id: str | None = None
    call_id: str | None = None
    type: str | None = None


class PlainResponse(msgspec.Struct, gc=False):
    """The response a lifecycle event carries: its id and the items it lists."""

    id: str | None = None
    output: list[PlainItem] | None = None


class PlainEvent(msgspec.Struct, gc=False):
    """The fields of an event the rules read; a field the event lacks (or holds null) is None. Every event the API
    sends names its type: one that does not (an SSE event typed by its name alone) is read whole."""

    type: str
    sequence_number: Whole | None = None
    output_index: Whole | None = None
    item_id: str | None = None
    item: PlainItem | None = None
    response: PlainResponse | None = None
    stream_id: str | None = None  # a WebSocket lane


_PLAIN = msgspec.json.Decoder(PlainEvent)
# What refuses an event plainly: not JSON, JSON of another shape, nesting past Python's recursion limit.
_NOT_PLAIN = (msgspec.DecodeError, RecursionError)

# A turn of a stream, as the rules take it: where it is, its events, whether it was cut, whether it resumes.
Stream = tuple[str, list[Any], bool, bool]
Event = TypeVar("Event")


def document(data: bytes) -> Any:
    """An event's data as the rules read it: the JSON document, or None when it is none (see the module's doc)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return msgspec.to_builtins(_PLAIN.decode(data))
    except _NOT_PLAIN:
        return None


# --- SSE ------------------------------------------------------------------------------------------

# An event as the API writes it: an optional `event: NAME` line and one `data: DATA` line.
_PLAIN_EVENT = re.compile(rb"(?:event: ([^\n]*)\n)?data: ([^\n]*)\n\n")


def sse_events(body: bytes) -> list[Any]:
    """The events of an SSE body as the rules read them: each event's data parsed as JSON (None when it is not),
    typed by its `event:` name when the data does not say (the harness's sse(): an event that is only a type has
    no data line).

    A body as the API writes it (UTF-8, plain events) is read by one regular expression; any other by
    ``rec.sse.split_events``, which reads such a body alike.
    """
    fields: Iterable[tuple[bytes | str | None, bytes]]
    split = _split_plain(body)
    if split is not None:
        fields = zip(*split, strict=True)
    else:
        fields = [(event.event, (event.data or "").encode()) for event in split_events(body)]
    events = []
    for name, data in fields:
        parsed = document(data) if data else None
        if name:  # b"" and "" are no name, as None is
            if not isinstance(parsed, dict):
                parsed = {"type": _text(name)}
            elif "type" not in parsed:
                parsed = {**parsed, "type": _text(name)}
        events.append(parsed)
    return events


def plain_sse_events(body: bytes) -> list[PlainEvent] | None:
    """The events of an SSE body as the API writes it, read plainly; None for a body written otherwise, or one
    with an event that is not read plainly."""
    split = _split_plain(body)
    if split is None:
        return None
    try:
        return list(map(_PLAIN.decode, split[1]))
    except _NOT_PLAIN:
        return None


def _split_plain(body: bytes) -> tuple[list[bytes | None], list[bytes]] | None:
    """The names and data of a body as the API writes it (UTF-8, each event an optional `event:` line and a
    `data:` line), or None for any other body."""
    # Split at each plain event: [between, name, data, between, name, data, ..., after]. Nothing between them
    # means the body is plain events alone.
    pieces = _PLAIN_EVENT.split(body.replace(b"\r\n", b"\n") if b"\r" in body else body)
    if any(pieces[::3]) or not _is_utf8(body):
        return None
    return pieces[1::3], pieces[2::3]


def _is_utf8(data: bytes) -> bool:
    if data.isascii():  # most answers, and a look that builds no text
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


# --- WebSocket ------------------------------------------------------------------------------------


def websocket_turns(exchange: WebSocketExchange) -> list[Stream]:
    """Each `response.create` and the events answering it, by lane (`stream_id`: lanes interleave), read whole."""
    messages = []
    for frame in exchange.frames:
        message = document(frame.payload) if frame.is_text else None
        if isinstance(message, dict):
            lane = message.get("stream_id")
            messages.append((frame.from_client, message.get("type"), lane if isinstance(lane, str) else None,
                             message))
    return _turns(exchange, messages)


def plain_websocket_turns(exchange: WebSocketExchange) -> list[Stream] | None:
    """The turns of ``websocket_turns``, read plainly; None when a text frame is not read plainly."""
    try:
        messages = [(frame.from_client, (event := _PLAIN.decode(frame.payload)).type, event.stream_id, event)
                    for frame in exchange.frames if frame.is_text]
    except _NOT_PLAIN:
        return None
    return _turns(exchange, messages)


def _turns(exchange: WebSocketExchange, messages: list[tuple[bool, Any, str | None, Event]]) -> list[Stream]:
    """The turns of a connection from its messages: (from the client, type, lane, the message), in order."""
    turns: list[tuple[str | None, list[Event]]] = []  # (lane, events), in the order the turns began
    current: dict[str | None, list[Event]] = {}  # lane -> the events of its latest turn
    for from_client, kind, lane, message in messages:
        if from_client:
            if kind == "response.create":
                current[lane] = []
                turns.append((lane, current[lane]))
            continue
        events = current.get(lane)
        if events is None and turns:
            events = turns[-1][1]  # a lane the client never named: the latest turn
        if events is not None:
            events.append(message)
    cut_connection = exchange.close is None or exchange.close.code not in (1000, None)
    last_of_lane = {lane: number for number, (lane, _) in enumerate(turns)}
    found: list[Stream] = []
    for number, (lane, events) in enumerate(turns):
        where = f"WebSocket turn {number}" + (f" (stream_id {lane!r})" if lane is not None else "")
        found.append((where, events, cut_connection and last_of_lane[lane] == number, False))
    return found
