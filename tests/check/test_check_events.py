"""Reading an answer's events: whole (each event's JSON) and plainly (the fields the one pass reads), alike.

The plain reading must take every event the API sends (unknown types, extra fields, fields left out, any text),
and whatever it takes it must read as the whole reading does; what it cannot take, the rules read whole.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rec.cassette import Close, Frame, Request, Response, WebSocketExchange
from rec.check.events import document, plain_sse_events, plain_websocket_turns, sse_events, websocket_turns
from rec.sse import split_events
from tests.check.support import message_stream, tool_stream
from tests.check.test_check_streams import KINDS, VALID

ITEM_FIELDS = ("id", "call_id", "type")
PLAIN_FIELDS = ("type", "sequence_number", "output_index", "item_id", "item", "response", "stream_id")


def as_plain(event: dict[str, Any]) -> dict[str, Any]:
    """What the plain reading should give of an event read whole, when it reads it."""
    def item(value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else {name: value.get(name) for name in ITEM_FIELDS}

    plain = {name: event.get(name) for name in ("type", "sequence_number", "output_index", "item_id", "stream_id")}
    plain["item"] = item(event.get("item"))
    response = event.get("response")
    plain["response"] = None if response is None else {
        "id": response.get("id"),
        "output": None if response.get("output") is None else [item(entry) for entry in response["output"]]}
    return plain


def same(plain: list[Any], whole: list[Any]) -> None:
    """Both readings give the same fields, to the JSON type (True is not 1 here)."""
    def text(events: list[Any]) -> bytes:
        return orjson.dumps(events, option=orjson.OPT_SORT_KEYS)

    assert text([msgspec.to_builtins(event) for event in plain]) == text([as_plain(event) for event in whole])


def sse(events: list[dict[str, Any]], ascii_only: bool = True) -> bytes:
    return "".join(f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=ascii_only)}\n\n"
                   for event in events).encode()


# Any JSON value; texts beyond ASCII.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
TEXT = st.text(max_size=12) | st.sampled_from(["msg_1", "resp_é", "fc_🙂"])
WHOLE = st.integers(-(2**63), 2**63 - 1)
EXTRA = st.dictionaries(st.text(max_size=8).filter(lambda name: name not in PLAIN_FIELDS), JSON, max_size=4)


def fields(values: dict[str, Any], required: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Objects holding any of ``values`` (each field may be left out), the ``required`` ones, and fields of any
    other name."""
    return st.tuples(st.fixed_dictionaries(required or {}, optional=values), EXTRA).map(
        lambda pair: {**pair[1], **pair[0]})


API_ITEM = fields({"id": TEXT | st.none(), "call_id": TEXT | st.none(), "type": TEXT | st.none()})
# An event with each field the rules read of the type the API gives it, or null, or left out; its type it always gives.
API_EVENT = fields(required={"type": st.sampled_from(KINDS) | TEXT}, values={
    "sequence_number": WHOLE | st.none(),
    "output_index": WHOLE | st.none(),
    "item_id": TEXT | st.none(),
    "item": API_ITEM | st.none(),
    "response": fields({"id": TEXT | st.none(), "output": st.lists(API_ITEM, max_size=3) | st.none()}) | st.none(),
    "stream_id": TEXT | st.none(),
})
# An event with any JSON at those fields.
ANY_ITEM = fields({name: JSON for name in ITEM_FIELDS})
ANY_EVENT = fields({
    "type": JSON | st.sampled_from(KINDS), "sequence_number": JSON | st.integers(), "output_index": JSON,
    "item_id": JSON, "item": ANY_ITEM | JSON, "stream_id": JSON,
    "response": fields({"id": JSON, "output": st.lists(ANY_ITEM | JSON, max_size=3) | JSON}) | JSON,
})


@settings(max_examples=300)
@given(st.lists(API_EVENT, max_size=4), st.booleans())
def test_the_plain_reading_takes_every_event_of_the_api_s_types(events: list[dict[str, Any]],
                                                                ascii_only: bool) -> None:
    data = [json.dumps(event, ensure_ascii=ascii_only).encode() for event in events]
    body = b"".join(b"data: " + line + b"\n\n" for line in data)
    plain = plain_sse_events(body)
    assert plain is not None
    same(plain, sse_events(body))


@settings(max_examples=500)
@given(ANY_EVENT)
@example({"type": "x", "sequence_number": 2**63})  # orjson reads an int msgspec cannot bound
@example({"type": "x", "sequence_number": 2**64})  # orjson reads a float
@example({"type": "x", "sequence_number": True})
@example({"type": "x", "output_index": 1.0})
@example({"type": None})
@example({"sequence_number": 1})  # no type
@example({"type": "x", "item": []})
def test_what_the_plain_reading_takes_it_reads_as_the_whole_reading_does(event: dict[str, Any]) -> None:
    data = json.dumps(event).encode()
    plain = plain_sse_events(b"data: " + data + b"\n\n")
    if plain is not None:
        same(plain, [document(data)])


@pytest.mark.parametrize("data", [
    b"{", b"", b"[1]", b"null", b'"text"', b'{"type": "a"} {"type": "b"}', b'{"type": "a",}', b'{"type": "\\x"}',
    b'{"type": "a", "b": NaN}', b'{"type": "a", "b": "\\ud800"}'])
def test_data_that_is_no_json_object_is_not_read_plainly(data: bytes) -> None:
    assert plain_sse_events(b"data: " + data + b"\n\n") is None


@pytest.mark.parametrize("exotic", [b"1e999", b"-1e999", b"1" + b"0" * 400, b"[" * 1100 + b"]" * 1100])
def test_an_event_orjson_refuses_only_for_a_field_no_rule_reads_is_read_alike(exotic: bytes) -> None:
    # orjson refuses numbers past a double's range and nesting past its limit, which Python's json reads; both
    # readings take the event's fields (without this, the whole reading would see no event where the plain did).
    data = b'{"type": "response.completed", "sequence_number": 3, "response": {"id": "r", "x": ' + exotic + b"}}"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data)
    whole = document(data)
    assert whole["type"] == "response.completed" and whole["response"]["id"] == "r"
    plain = plain_sse_events(b"data: " + data + b"\n\n")
    assert plain is not None
    same(plain, [whole])


def test_nesting_past_what_msgspec_reads_is_no_event_either_way() -> None:
    data = b'{"type": "response.completed", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert document(data) is None
    assert plain_sse_events(b"data: " + data + b"\n\n") is None


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_valid_stream_is_read_plainly_as_whole(name: str) -> None:
    events = [event for event in VALID[name] if isinstance(event, dict)]
    for body in (sse(events), sse(events, ascii_only=False), sse(events).replace(b"\n", b"\r\n")):
        plain = plain_sse_events(body)
        assert plain is not None
        same(plain, sse_events(body))


def test_an_event_typed_by_its_event_line_alone_is_read_whole() -> None:
    body = b'event: response.created\ndata: {"response": {"id": "r"}}\n\n'
    assert plain_sse_events(body) is None
    assert sse_events(body) == [{"type": "response.created", "response": {"id": "r"}}]


@pytest.mark.parametrize("body", [
    b"data: {}\n\n: a comment\n\n",  # a comment: not as the API writes
    b"data: {}\n",  # cut short
    b"event:x\ndata: {}\n\n",  # no space after the colon
    b'data: {"t": "\xff"}\n\n',  # not UTF-8
    b"event: a\n\n",  # a name alone
])
def test_a_body_not_written_as_the_api_writes_is_not_read_plainly(body: bytes) -> None:
    assert plain_sse_events(body) is None


def connection(*frames: tuple[bool, bytes], close: Close | None = None) -> WebSocketExchange:
    return WebSocketExchange(Request("GET", "/v1/responses"), Response(101),
                             frames=[Frame(float(n), client, True, payload) for n, (client, payload) in
                                     enumerate(frames)], close=close)


def test_websocket_turns_read_plainly_are_the_turns_read_whole() -> None:
    def lane(events: list[dict[str, Any]], stream_id: str) -> list[tuple[bool, bytes]]:
        return [(False, json.dumps({**event, "stream_id": stream_id}).encode()) for event in events]

    a, b = lane(message_stream("ra", "a b"), "A"), lane(tool_stream("rb"), "B")
    interleaved = [item for pair in zip(a, b, strict=False) for item in pair] + a[len(b):] + b[len(a):]
    exchange = connection((True, b'{"type": "response.create", "stream_id": "A", "input": "\xc3\xa9"}'),
                          (True, b'{"type": "response.create", "stream_id": "B"}'), *interleaved,
                          (False, b'{"type": "codex.rate_limits", "primary": {"used_percent": 1}}'))
    plain, whole = plain_websocket_turns(exchange), websocket_turns(exchange)
    assert plain is not None
    assert [(where, cut) for where, _, cut, _ in plain] == [(where, cut) for where, _, cut, _ in whole] == [
        ("WebSocket turn 0 (stream_id 'A')", True), ("WebSocket turn 1 (stream_id 'B')", True)]
    for (_, plain_events, _, _), (_, whole_events, _, _) in zip(plain, whole, strict=True):
        same(plain_events, whole_events)


@pytest.mark.parametrize("frame", [b"not json", b"[1, 2]", b'{"type": "x", "stream_id": 5}'])
def test_a_frame_not_read_plainly_makes_the_connection_read_whole(frame: bytes) -> None:
    assert plain_websocket_turns(connection((True, b'{"type": "response.create"}'), (False, frame))) is None


def events_as_split_events_reads_them(body: bytes) -> list[Any]:
    """An SSE body's events read through rec.sse.split_events, each data parsed on its own: what sse_events gives."""
    events = []
    for event in split_events(body):
        parsed = document(event.data.encode()) if event.data else None
        if not isinstance(parsed, dict) and event.event:
            parsed = {"type": event.event}
        elif isinstance(parsed, dict) and "type" not in parsed and event.event:
            parsed = {**parsed, "type": event.event}
        events.append(parsed)
    return events


# Lines an SSE body is made of: the API's, and every other shape split_events reads.
LINES = [b"event: response.created", b"data: {\"type\": \"response.created\", \"response\": {\"id\": \"r\"}}",
         b"data: {\"sequence_number\": 1}", b"data: {\"a\":", b"data: 1}", b"data: [1, 2]", b"data: \"caf\xc3\xa9\"",
         b"data: {\"t\": \"\xff\"}", b"event: \xe2\x82", b"event:response.done", b"data:{}", b"data: ", b"data:",
         b"event: ", b"event:  spaced", b": a comment", b"id: 7", b"retry: 10", b"event: a:b", b"data: {\"x\": \"\r\"}",
         b"", b"\r", b"event", b"data"]


EVENT_LINES = [line for line in LINES if line.startswith(b"event")]
DATA_LINES = [line for line in LINES if line.startswith(b"data")]
# An event as the API writes it (an event line, a data line), or any few lines.
BLOCKS = (st.tuples(st.sampled_from(EVENT_LINES), st.sampled_from(DATA_LINES)).map(b"\n".join)
          | st.sampled_from(DATA_LINES) | st.lists(st.sampled_from(LINES), max_size=4).map(b"\n".join))


@settings(max_examples=300)
@example([b"event:response.done\ndata: {\"sequence_number\": 1}"], b"\n", b"\n\n")  # no space after event:
@example([b"event: a\ndata: \"\xff\""], b"\n", b"\n\n")  # not UTF-8: the data is read with U+FFFD
@example([b"event: a\ndata: 1", b"data: 2"], b"\r\n", b"")  # a last event cut short
@given(st.lists(BLOCKS, max_size=6), st.sampled_from([b"\n", b"\r\n"]), st.sampled_from([b"\n\n", b"\n", b""]))
def test_sse_events_reads_any_body_as_split_events_does(blocks: list[bytes], newline: bytes, end: bytes) -> None:
    body = b"".join(block + b"\n\n" for block in blocks).removesuffix(b"\n\n") + end
    body = body.replace(b"\n", newline)
    assert sse_events(body) == events_as_split_events_reads_them(body)
    plain = plain_sse_events(body)
    if plain is not None:
        same(plain, sse_events(body))


@pytest.mark.parametrize("name", sorted(VALID))
def test_sse_events_reads_an_api_body_as_split_events_does(name: str) -> None:
    events = [e for e in VALID[name] if isinstance(e, dict)]
    for body in (sse(events), sse(events).replace(b"\n", b"\r\n"), sse(events)[:-1]):
        assert sse_events(body) == events_as_split_events_reads_them(body)
