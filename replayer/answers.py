"""Recorded answers compiled for serving: one small class per kind of answer.

- ``BodyAnswer``: a whole HTTP body (JSON, /models, /responses/compact, errors).
- ``StreamAnswer``: a chunked body (SSE), sent at once, or chunk by chunk with the
  recorded pacing, ending as the recording did: completed, cut (the same bytes, then
  close) or reset (the same bytes, then an RST).
- ``WebSocketAnswer``: a WebSocket conversation: handshake headers, then per client
  message the server frames that followed it, then the recorded close.
- ``NoResponseAnswer``: an exchange the upstream never answered, replayed as the recorder
  answered the client (a 502 saying why, then a close).
- ``FaultedAnswer``: an HTTP answer under an injected fault (replayer.faults), spoken
  by its sink: chunked SSE events, or a whole body.
- ``ForwardedAnswer``: a request no recording answers, relayed to a recorder (the pytest
  plugin's ``new_episodes``).

Everything the wire needs is computed once, on an answer's first serve: head bytes, for
an answer that can go out at once the whole response as one bytes object, and framed
chunks when a paced serve needs them. The order of bytes on the wire for each kind is in
its ``send`` method.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus
from typing import Any, Literal

import orjson

from rec.cassette import (
    ACCEPT_DELAY_KEY,
    Close,
    Exchange,
    Headers,
    HttpExchange,
    IndexedRecord,
    Request,
    Response,
    WebSocketExchange,
)
from rec.sse import is_event_stream, split_events
from replayer.echo import Swaps, echo_payload
from replayer.errors import Refused, api_error
from replayer.faults import CORRUPT_EVENT, CORRUPT_FRAME, Fault, play
from replayer.lanes import lane_of_client_message, lane_of_server_event
from replayer.pacing import send_paced, sleep_until
from replayer.served import NOTHING, Served, served_from_body, served_from_events
from replayer.turns import ServerFrame, Turn

# How a recorded stream ended when it did not complete: the peer reset it, or cut it short.
RecordedCut = Literal["reset", "close"]

# Headers that describe one hop's connection, not the answer; framing is recomputed.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "content-length",
})
# How recorded header text goes back on the wire: the recorder (mitmproxy) read header bytes as UTF-8.
HEADER_ENCODING = "utf-8"
# Headers of a WebSocket handshake answer that wsproto computes for this connection.
HANDSHAKE_OWN = frozenset({"sec-websocket-accept", "sec-websocket-extensions", "sec-websocket-protocol"})


def _recorded_cut(exchange: HttpExchange) -> RecordedCut | None:
    if exchange.end.state != "error":
        return None
    return "reset" if exchange.end.error == "reset" else "close"


def _writer(transport: asyncio.Transport) -> Callable[[bytes], bool]:
    """A send function for ``send_paced``: writes while the connection is open."""

    def write(data: bytes) -> bool:
        if transport.is_closing():
            return False
        transport.write(data)
        return True

    return write


def response_head(response: Response, extra: Headers, drop: frozenset[str] = HOP_BY_HOP) -> bytes:
    reason = response.reason or _reason(response.status)
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    # The framing headers go first: a client that stops reading headers at one it cannot parse (http.client does at
    # a recorded name with a space) still learns where the body ends, instead of waiting for the connection to close.
    lines += [f"{name}: {value}" for name, value in extra]
    lines += [f"{name}: {value}" for name, value in response.headers if name.lower() not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(HEADER_ENCODING)


def http_chunk(data: bytes) -> bytes:
    """``data`` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def reset(transport: asyncio.WriteTransport) -> None:
    """Abort with an RST (SO_LINGER 0), as a peer resetting the connection does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Answer:
    """A compiled recorded answer; ``index`` is the exchange's position across the loaded cassettes."""

    index: int | None = None
    source: str = ""

    @property
    def served(self) -> Served:
        return NOTHING


class HttpAnswer(Answer):
    """An HTTP answer. ``immediate`` is the whole response when it can be written at once, else None."""

    immediate: bytes | None = None
    status: int = 200

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        """Write the answer; returns False when the connection must not be reused (cut or reset)."""
        raise NotImplementedError

    def with_echo(self, swaps: Swaps) -> HttpAnswer:
        """This answer with the fields it echoes from its request swapped (replayer.echo)."""
        return self


class BodyAnswer(HttpAnswer):
    """A whole body with a Content-Length; with pacing it goes out when the recorded body was complete."""

    def __init__(self, response: Response, duration_ms: float) -> None:
        body = response.body
        self.response = response
        self.status = response.status
        self.immediate = response_head(response, [("content-length", str(len(body)))]) + body
        self.duration_ms = duration_ms
        self._body = body
        self._content_type = response.header("content-type")

    @cached_property
    def _served(self) -> Served:
        if self._content_type and "json" in self._content_type:
            return served_from_body(self._body)
        return NOTHING

    @property
    def served(self) -> Served:
        return self._served

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        if pace is not None:
            await sleep_until(start, self.duration_ms, pace)
        transport.write(self.immediate or b"")
        return True

    def with_echo(self, swaps: Swaps) -> HttpAnswer:
        body = echo_payload(self._body, swaps) if self._content_type and "json" in self._content_type else self._body
        if body is self._body:
            return self
        echoed = BodyAnswer(self.response.with_chunks([(0.0, body)]), self.duration_ms)
        echoed.index, echoed.source = self.index, self.source
        return echoed


class StreamAnswer(HttpAnswer):
    """A chunked body sent at once, or chunk by chunk at the recorded offsets when paced; then ended as recorded.

    Given the ``record`` its exchange was decoded from, it keeps its head and body, not the recorded response (whose
    chunks, from a cassette of version 2, are hundreds of objects decoded on first serve), and the exchange goes
    while still fresh in memory. A paced or faulted serve, which needs the chunks' times and boundaries, decodes the
    record again.
    """

    def __init__(self, head: bytes, status: int, content_type: str | None, body: bytes,
                 cut: RecordedCut | None = None, end_ms: float = 0.0, response: Response | None = None,
                 record: IndexedRecord | None = None) -> None:
        self.head = head
        self.status = status
        self.content_type = content_type
        self.body = body
        self.cut = cut
        self.end_ms = end_ms
        # A stream recorded cut never sends the last chunk: the client sees a body cut short.
        self.tail = b"" if cut else b"0\r\n\r\n"
        self._response = response
        self._record = record

    @classmethod
    def from_exchange(cls, exchange: HttpExchange, record: IndexedRecord | None = None) -> StreamAnswer:
        response = exchange.response
        assert response is not None  # an exchange with none is a NoResponseAnswer
        # A response read from a cassette holds its body joined: its chunks are cut out only when paced or faulted.
        return cls(response_head(response, [("transfer-encoding", "chunked")]), response.status,
                   response.header("content-type"), response.body, _recorded_cut(exchange), exchange.end.at_ms,
                   response if record is None else None, record)

    def recorded(self) -> list[tuple[float, bytes]]:
        """The recorded chunks: those kept, or the record's decoded again."""
        if self._response is not None:
            return self._response.chunks
        assert self._record is not None
        exchange = self._record.exchange()
        assert isinstance(exchange, HttpExchange) and exchange.response is not None  # it was one when first read
        return exchange.response.chunks

    @cached_property
    def chunks(self) -> list[tuple[float, bytes]]:
        """Each recorded chunk as one HTTP chunk, so the client sees the recorded boundaries (paced)."""
        return [(at, http_chunk(data)) for at, data in self.recorded() if data]

    @cached_property
    def immediate(self) -> bytes | None:  # type: ignore[override]  # the base's plain attribute, computed here
        if self.cut is not None:
            return None
        # Written at once, the recorded chunk boundaries would not reach the client anyway (TCP keeps none, and
        # HTTP/1.1 gives them no meaning): the body goes as one chunk. Pacing and faults, which send the chunks
        # apart, frame each one (``chunks``, ``FaultedAnswer``).
        if not self.body:
            return self.head + self.tail
        return b"%s%x\r\n%s\r\n%s" % (self.head, len(self.body), self.body, self.tail)

    @cached_property
    def _served(self) -> Served:
        # Needed only when a request chains to this answer; read on first serve, not at load.
        if not is_event_stream(self.content_type):
            return NOTHING
        return served_from_events([event.data.encode() for event in split_events(self.body) if event.data])

    @property
    def served(self) -> Served:
        return self._served

    def timed_events(self) -> list[tuple[float, bytes]]:
        """Each SSE event of the recorded stream with the offset at which its last byte went out."""
        ends, offset = [], 0
        for at, data in self.recorded():
            offset += len(data)
            ends.append((offset, at))
        # Events and chunks both run forward through the body: one walk over each finds every event's last chunk.
        events, position, chunk = [], 0, 0
        for event in split_events(self.body):
            position += len(event.raw)
            while chunk < len(ends) and ends[chunk][0] < position:
                chunk += 1
            at = ends[chunk][1] if chunk < len(ends) else ends[-1][1] if ends else 0.0
            events.append((at, event.raw))
        return events

    def with_echo(self, swaps: Swaps) -> HttpAnswer:
        return _EchoedStream(self, swaps) if is_event_stream(self.content_type) else self

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        if self.head:
            transport.write(self.head)
        if not await send_paced(self.chunks, _writer(transport), pace, start):
            return False
        if self.cut is None:
            transport.write(self.tail)
            return True
        if pace is not None:
            await sleep_until(start, self.end_ms, pace)
        if self.cut == "reset":
            reset(transport)
        else:
            transport.close()
        return False


class _EchoedStream(StreamAnswer):
    """A stream with the fields it echoes swapped in its events (replayer.echo). Sent at once it needs only its body;
    paced or faulted, each event goes as its own chunk, at the time its last byte was recorded: the recorded
    stream's chunks are read for that only then."""

    def __init__(self, echoed: StreamAnswer, swaps: Swaps) -> None:
        body = b"".join(_echo_event(event.raw, swaps) for event in split_events(echoed.body))
        super().__init__(echoed.head, echoed.status, echoed.content_type, body, echoed.cut, echoed.end_ms)
        self.index, self.source = echoed.index, echoed.source
        self._echoed = echoed
        self._swaps = swaps

    def recorded(self) -> list[tuple[float, bytes]]:
        return [(at, _echo_event(raw, self._swaps)) for at, raw in self._echoed.timed_events()]


class NoResponseAnswer(HttpAnswer):
    """An exchange whose upstream sent no response (unreachable, a garbage status line, closed or reset before its
    headers), answered as the live client was: the recorder's 502 Bad Gateway page saying why, then a close."""

    status = 502

    def __init__(self, exchange: HttpExchange) -> None:
        message = exchange.end.message or exchange.end.error or "the upstream sent no response"
        # mitmproxy's own error page (proxy/layers/http/_base.py format_error), as the client read it.
        body = (f"<html>\n<head>\n    <title>502 Bad Gateway</title>\n</head>\n<body>\n    <h1>502 Bad Gateway</h1>"
                f"\n    <p>{html.escape(message)}</p>\n</body>\n</html>").encode("utf8", "replace")
        response = Response(status=502, reason="Bad Gateway", headers=[("content-type", "text/html")])
        self.wire = response_head(response, [("content-length", str(len(body))), ("connection", "close")]) + body
        self.end_ms = exchange.end.at_ms

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        if pace is not None:
            await sleep_until(start, self.end_ms, pace)
        transport.write(self.wire)
        return False  # the recorder closed the client's connection after it


@dataclass
class WebSocketAnswer(Answer):
    """A WebSocket conversation: what the handshake answers, each turn, and how it closes."""

    headers: Headers
    deflate: bool
    greeting: list[ServerFrame]
    turns: list[Turn]
    close: Close | None
    index: int | None = None
    source: str = ""
    # How long the server waits before accepting the upgrade (a synthesized connection's
    # `accept_delay_ms`), so tests can catch a client with its connection still opening.
    accept_delay_ms: float = 0.0

    @property
    def has_lanes(self) -> bool:
        """Whether the conversation ran on named lanes (`stream_id`), so turns are matched per lane."""
        return any(turn.lane is not None for turn in self.turns)

    @classmethod
    def from_exchange(cls, exchange: WebSocketExchange) -> WebSocketAnswer:
        greeting: list[ServerFrame] = []
        turns: list[Turn] = []
        # A server frame answers the latest client message on its lane (replayer.lanes): with one
        # lane that is simply the latest message; with concurrent lanes, events interleave on the wire.
        latest: dict[str | None, Turn] = {}
        lane_of_response: dict[str, str] = {}
        for frame in exchange.frames:
            if frame.from_client:
                lane = lane_of_client_message(frame.payload, lane_of_response)
                turn = Turn(frame.payload, [], frame.at_ms, lane)
                turns.append(turn)
                latest[lane] = turn
                continue
            lane = lane_of_server_event(frame.payload, lane_of_response) if frame.is_text else None
            owner = latest.get(lane) or (turns[-1] if turns else None)
            if owner is None:
                greeting.append(ServerFrame(frame.at_ms, frame.is_text, frame.payload))
            else:
                owner.frames.append(ServerFrame(frame.at_ms - owner.at_ms, frame.is_text, frame.payload))
        headers = [(k, v) for k, v in exchange.response.headers
                   if k.lower() not in HOP_BY_HOP and k.lower() not in HANDSHAKE_OWN]
        return cls(
            headers=headers,
            deflate=any(ext.strip().lower().startswith("permessage-deflate") for ext in exchange.extensions),
            greeting=greeting,
            turns=turns,
            close=exchange.close,
            accept_delay_ms=float(exchange.extra.get(ACCEPT_DELAY_KEY, 0.0)),
        )


def compile_exchange(exchange: Exchange, index: int | None = None, source: str = "",
                     record: IndexedRecord | None = None) -> Answer | None:
    """The answer for a recorded exchange, or None for a record type this version cannot serve; ``record`` is the
    one it was decoded from, if it was (a stream's answer then keeps no chunks: ``StreamAnswer``)."""
    answer: Answer
    if isinstance(exchange, WebSocketExchange):
        if exchange.response.status == 101:
            answer = WebSocketAnswer.from_exchange(exchange)
        else:
            # An upgrade the upstream refused (e.g. 426) is replayed as that HTTP answer.
            answer = BodyAnswer(exchange.response, exchange.duration_ms)
    elif isinstance(exchange, HttpExchange):
        response = exchange.response
        if response is None:
            answer = NoResponseAnswer(exchange)
        elif is_event_stream(response.header("content-type")) or len(response.chunks) > 1 \
                or exchange.end.state == "error":
            answer = StreamAnswer.from_exchange(exchange, record)
        else:
            answer = BodyAnswer(response, exchange.duration_ms)
    else:
        return None
    answer.index = index
    answer.source = source
    return answer


def sse_answer(body: str | bytes, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> StreamAnswer:
    """An SSE answer from a whole event-stream body, sent as one chunk (as the harness's ``sse_response``)."""
    data = body.encode() if isinstance(body, str) else body
    response = Response(status=status, headers=[("content-type", "text/event-stream"), *headers],
                        chunks=[(0.0, data)])
    return StreamAnswer.from_exchange(HttpExchange(request=Request(method="", path=""), response=response))


def json_answer(value: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> BodyAnswer:
    """A JSON answer (compact output, /models, an error)."""
    response = Response(status=status, headers=[("content-type", "application/json"), *headers],
                        chunks=[(0.0, orjson.dumps(value))])
    return BodyAnswer(response, 0.0)


def error_answer(refused: Refused) -> BodyAnswer:
    """A refusal as the API answers an error: its status, ``{"error": {...}}`` and its headers."""
    return json_answer(refused.body(), refused.status, refused.headers)


class FaultedAnswer(HttpAnswer):
    """A recorded HTTP answer served under a fault (replayer.faults), then given back for the client's retry.

    An SSE answer is re-cut at event boundaries and the fault comes after event K; a whole
    body has no events, so the fault replaces it (a hang-up, an error status, a delay, a
    body that is not JSON). The exchange is given back before anything is sent, so a client
    that retries at once finds it; a stall the client waits out takes it again.
    """

    def __init__(self, inner: HttpAnswer, fault: Fault, give_back: Callable[[], None],
                 reclaim: Callable[[], None]) -> None:
        self.inner = inner
        self.fault = fault
        self.give_back = give_back
        self.reclaim = reclaim
        streamed = isinstance(inner, StreamAnswer)
        self.status = (fault.status or 500) if fault.action == "error" and not streamed else inner.status
        self.index, self.source = inner.index, inner.source

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        self.give_back()
        inner = self.inner
        if isinstance(inner, StreamAnswer):
            transport.write(inner.head)
            sink: _EventSink | _BodySink = _EventSink(transport, inner.served.response_id)
            events = inner.timed_events()
        else:
            sink, events = _BodySink(transport, inner, pace, start), []
        if await play(events, self.fault, sink, pace, start):
            self.reclaim()
        # A stream that ended with its last chunk (or a whole error body) leaves the connection usable.
        return sink.answered and not transport.is_closing()


def _echo_event(raw: bytes, swaps: Swaps) -> bytes:
    """An SSE event with the swaps applied to its (one-line) data; as is otherwise."""
    for line in raw.split(b"\n"):
        if line.startswith(b"data:") and b'"response"' in line:
            data = line[5:].lstrip(b" ")
            echoed = echo_payload(data, swaps)
            return raw if echoed is data else raw.replace(line, b"data: " + echoed, 1)
    return raw


class _EventSink:
    """Faults on a chunked SSE stream: each event one chunk; an error is a `response.failed` event."""

    def __init__(self, transport: asyncio.Transport, response_id: str | None) -> None:
        self.transport = transport
        self.response_id = response_id
        self.send = _writer(transport)
        self.answered = False  # the body ended with its last chunk

    def send_event(self, raw: bytes) -> bool:
        return self.send(http_chunk(raw))

    def send_error(self, fault: Fault) -> None:
        event = b"event: response.failed\ndata: " + orjson.dumps(fault.failed_event(self.response_id)) + b"\n\n"
        self.send(http_chunk(event))
        self.end()

    def send_corrupt(self) -> None:
        self.send(http_chunk(CORRUPT_EVENT))

    def end(self) -> None:
        self.answered = self.send(b"0\r\n\r\n")

    def reset(self) -> None:
        reset(self.transport)

    async def complete(self) -> bool:
        self.end()
        return self.answered


class _BodySink:
    """Faults on a whole body: hang up, answer an error status, or a body that is not JSON; else the body."""

    def __init__(self, transport: asyncio.Transport, inner: HttpAnswer, pace: float | None, start: float) -> None:
        self.transport = transport
        self.inner = inner
        self.pace = pace
        self.start = start
        self.replaced = False  # the fault answered in the body's place
        self.answered = False  # a whole answer went out

    def send_event(self, raw: bytes) -> bool:
        raise AssertionError("a whole body has no events")  # play() is given none

    def send_error(self, fault: Fault) -> None:
        status = fault.status or 500
        self._answer(status, orjson.dumps(api_error(status, fault.code, fault.error_message())))

    def send_corrupt(self) -> None:
        self._answer(self.inner.status, CORRUPT_FRAME.encode())

    def end(self) -> None:
        self.transport.close()

    def reset(self) -> None:
        reset(self.transport)

    async def complete(self) -> bool:
        if self.replaced or self.transport.is_closing():
            return False
        self.answered = await self.inner.send(self.transport, self.pace, self.start)
        return self.answered

    def _answer(self, status: int, body: bytes) -> None:
        self.replaced = self.answered = True
        response = Response(status=status, headers=[("content-type", "application/json")], chunks=[(0.0, body)],
                            reason="rec fault")
        self.transport.write(BodyAnswer(response, 0.0).immediate or b"")


class ForwardedAnswer(HttpAnswer):
    """A request no recording answers, relayed whole to a recorder (the pytest plugin's ``new_episodes``).

    The recorder forwards it upstream and records the exchange; its answer streams back as
    it comes. The request goes with ``connection: close``, so the answer ends at EOF and the
    client's connection is closed after it (the client opens a new one).
    """

    def __init__(self, address: tuple[str, int], method: str, target: str, headers: Headers, body: bytes) -> None:
        self.address = address
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in kept)]
        self.head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.body = body

    def request_bytes(self, upgrade: bool = False) -> bytes:
        """The request as the recorder should see it; an upgrade keeps its Connection and Upgrade headers."""
        if upgrade:
            return self.head + b"connection: Upgrade\r\nupgrade: websocket\r\n\r\n"
        return self.head + b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(self.body), self.body)

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        reader, writer = await asyncio.open_connection(*self.address)
        try:
            writer.write(self.request_bytes())
            await relay(reader, transport)
        finally:
            writer.close()
        return False


async def relay(reader: asyncio.StreamReader, transport: asyncio.Transport) -> None:
    """Copy what the recorder answers to the client as it comes, until either side ends."""
    while chunk := await reader.read(65536):
        if transport.is_closing():
            break
        transport.write(chunk)
