"""Moments on the timeline: each event at the time of the chunk that completed it; marks for what stands out."""

from __future__ import annotations

from rec.cassette import Close, End, Frame, HttpExchange, Request, Response, WebSocketExchange
from rec.view.stream import MAX_STRING, decode, http_timeline, sse_moments, websocket_timeline

SSE = [("content-type", "text/event-stream")]


def response(chunks: list[tuple[float, bytes]]) -> Response:
    return Response(status=200, headers=SSE, chunks=chunks)


def test_an_event_split_over_chunks_is_placed_when_its_last_byte_came() -> None:
    moments = sse_moments(response([
        (5.0, b'event: response.created\ndata: {"type":"response.created"}\n\nevent: response.output_text.delta\n'),
        (30.0, b'data: {"type":"response.output_text.delta","delta":"hi"}\n\n'),
        (31.0, b": keep-alive\n\n"),
    ]))
    assert [(m.at_ms, m.label) for m in moments] == [(5.0, "response.created"), (30.0, "response.output_text.delta"),
                                                     (31.0, "(comment)")]
    assert moments[1].data == {"type": "response.output_text.delta", "delta": "hi"}
    assert moments[0].size == len(b'event: response.created\ndata: {"type":"response.created"}\n\n')


def test_crlf_streams_and_a_torn_last_event() -> None:
    moments = sse_moments(response([(1.0, b'data: {"type":"a"}\r\n\r\ndata: {"type":"b"'), (9.0, b',"x":1}\n')]))
    assert [(m.at_ms, m.label) for m in moments] == [(1.0, "a"), (9.0, "b (torn)")]


def test_marks_first_event_gap_cut_and_total() -> None:
    chunks = [(40.0, b'data: {"type":"response.created"}\n\n')]
    chunks += [(40.0 + 10 * n, b'data: {"type":"response.output_text.delta","delta":"x"}\n\n') for n in range(1, 6)]
    chunks.append((1500.0, b'data: {"type":"response.output_text.delta","delta":"late"}\n\n'))
    exchange = HttpExchange(Request("POST", "/v1/responses"), response(chunks),
                            End(state="error", error="cut", message="closed early", at_ms=1500.0))
    timeline = http_timeline(exchange, streamed=True)
    kinds = {mark["kind"]: mark for mark in timeline.marks}
    assert kinds["ttfe"]["t"] == 40.0 and kinds["ttfe"]["label"] == "first event 40 ms"
    assert (kinds["gap"]["from"], kinds["gap"]["t"]) == (90.0, 1500.0)
    assert kinds["cut"] == {"kind": "cut", "t": 1500.0, "label": "cut: closed early"}
    assert kinds["total"]["t"] == 1500.0
    assert timeline.moments[0].lane == "client" and timeline.moments[0].ref == "request"


def test_an_even_stream_has_no_gap() -> None:
    chunks = [(600.0 * n, b'data: {"type":"response.output_text.delta","delta":"x"}\n\n') for n in range(5)]
    timeline = http_timeline(HttpExchange(Request("POST", "/v1/responses"), response(chunks)), streamed=True)
    assert not [m for m in timeline.marks if m["kind"] == "gap"]


def test_websocket_frames_by_turn_with_each_turns_first_event() -> None:
    frames = [Frame(0.0, True, True, b'{"type":"response.create"}'),
              Frame(12.0, False, True, b'{"type":"response.created"}'),
              Frame(20.0, False, True, b'{"type":"response.completed"}'),
              Frame(100.0, True, True, b'{"type":"response.create"}'),
              Frame(130.0, False, False, b"\x00\x01")]
    exchange = WebSocketExchange(Request("GET", "/v1/responses"), Response(101), frames=frames,
                                 close=Close(code=1000, by="client", at_ms=140.0))
    timeline = websocket_timeline(exchange)
    assert [(m.lane, m.turn, m.label) for m in timeline.moments] == [
        ("client", 0, "response.create"), ("server", 0, "response.created"), ("server", 0, "response.completed"),
        ("client", 1, "response.create"), ("server", 1, "binary")]
    assert [m["label"] for m in timeline.marks] == ["turn 0: first event 12 ms", "turn 1: first event 30 ms",
                                                    "close 1000 by client", "total 140 ms"]


def test_decode_cuts_huge_strings_and_names_binary() -> None:
    huge = decode(b'{"result": "' + b"A" * (MAX_STRING + 10) + b'"}')
    assert huge["result"].endswith("… [10 more characters not shown]")
    assert decode(b"\xff\xfe") == {"binary_bytes": 2}
    assert decode(b"plain") == "plain"
