"""The HTTP/1.1 wire adapter of the replay server: an asyncio Protocol on httptools.

It parses requests (keep-alive, Content-Length and chunked bodies), asks the core
(``replayer.core``) for the answer and writes it; a request that asks to upgrade is
handed to a ``WebSocketConnection`` on the same connection. Requests on one connection
are answered in order: while a paced answer is still streaming, later ones wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

import httptools

from rec.cassette import Headers
from replayer.answers import ForwardedAnswer, HttpAnswer, StreamAnswer, error_answer, relay
from replayer.core import ReplayCore
from replayer.errors import Refused, internal_error
from replayer.flow import Flow
from replayer.hub import Hub
from replayer.request_log import ResponsesRequest

if TYPE_CHECKING:
    from replayer.websocket import WebSocketConnection


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


_CLOSE = [("connection", "close")]
# The most of a refused request's remaining body read and thrown away so its client can finish sending and read
# the refusal: a client stating a larger body than this gets a reset once it is reached.
_MAX_DISCARDED = 1024**3


def _refusal(status: int, code: str, message: str) -> Refused:
    """A request refused while it is still arriving (too large, too slow, malformed): answered, then closed."""
    return Refused(status, code, message, headers=_CLOSE)


class _Pending:
    __slots__ = ("body", "core", "headers", "keep_alive", "method", "received", "target")

    def __init__(self, method: str, target: str, headers: Headers, body: bytes, keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.received = time.monotonic()
        self.core: ReplayCore | None = None  # the core that answered it


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, answer in order, or hand over to a WebSocket session."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.flow: Flow | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.websocket: WebSocketConnection | None = None
        self.tunnel: asyncio.StreamWriter | None = None  # a connection relayed to a recorder (ForwardedAnswer)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._queue: deque[_Pending] = deque()
        self._busy = False
        self._serving: _Pending | None = None  # the request whose answer is going out now (paced or computed)
        self._upgrade: _Pending | None = None
        # Whether the client read its streams: the one being written now, and the last one
        # written whole (a client that sends its next request on the connection read it all).
        self._sending: tuple[_Pending, StreamAnswer] | None = None
        self._last_stream: tuple[_Pending, StreamAnswer] | None = None
        self.limits = hub.limits
        # Read on every header and body piece: kept here rather than looked up through ``limits``.
        self._max_header_bytes, self._max_headers = self.limits.header_bytes, self.limits.headers
        self._header_bytes = 0
        self._body_bytes = 0
        self._stated_length = 0  # the request's Content-Length, when it states one
        self._expect_continue = False
        # Once a request is refused as it arrives: how much more of it may still be read and thrown away.
        self._discard_left: int | None = None
        self._discard_until = 0.0
        # For sweep_timeouts: when the request now arriving began (None: between requests), and
        # when the connection last did anything.
        self._request_began: float | None = None
        self._last_active = time.monotonic()

    # --- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio classes
        self.flow = Flow(self.transport)  # type: ignore[arg-type]
        self.hub.connections.add(self)

    def pause_writing(self) -> None:
        """The client is not reading what it is sent: read nothing more from it until it does (replayer.flow)."""
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        if self.flow is not None:
            self.flow.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.connections.discard(self)
        if self.flow is not None:
            self.flow.close()
        if self.websocket is not None:
            self.websocket.connection_lost(exc)
            return
        if self.hub.closing:
            return
        if self._sending is not None:
            request, answer = self._sending
            self._note_unconsumed(request, answer, "the client disconnected before the end of the stream")
        elif self._last_stream is not None and isinstance(exc, ConnectionResetError | BrokenPipeError):
            # Closing a socket with unread data makes the kernel send an RST instead of a FIN.
            request, answer = self._last_stream
            self._note_unconsumed(request, answer, "the client closed the connection with part of the stream unread")

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.websocket is not None:
            self.websocket.data_received(data)
            return
        if self._discard_left is not None:
            self._discard(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._start_websocket(data[upgrade.args[0]:])
        except httptools.HttpParserCallbackError as err:
            # A limit refuses the request as it arrives; anything else raised in a callback is rec's own failure.
            cause = err.__context__
            if isinstance(cause, Refused):
                self._refuse(cause)
            else:
                self._refuse(internal_error("a request to", self._url.decode("latin-1"),
                                            cause if isinstance(cause, Exception) else err, headers=_CLOSE))
        except httptools.HttpParserError as err:
            self._refuse(_refusal(400, "rec_bad_request", f"rec: malformed HTTP/1.1 request ({err})"))

    def _refuse(self, refusal: Refused) -> None:
        """Answer a request that cannot be read whole, count it, and end the connection gracefully."""
        transport = self.transport
        assert transport is not None
        self._request_began = None
        found = self.hub.core_for(self._url.decode("latin-1"))
        if found is not None:
            found[0].note_refused(self._url.decode("latin-1")[:200], refusal.message)
        if transport.is_closing():
            return
        transport.write(error_answer(refusal).immediate or b"")
        if not transport.can_write_eof():
            transport.close()
            return
        # Closing a socket with unread bytes sends a reset, which a client still sending its body (urllib, requests)
        # meets instead of the answer. So the answer is followed by an end of stream, and what the client still
        # sends is read and thrown away until it hangs up: at most the rest of the body it stated (or as much as a
        # body may be), within the time a request has to arrive.
        transport.write_eof()
        self._discard_left = min(max(self.limits.body, self._stated_length - self._body_bytes), _MAX_DISCARDED)
        self._discard_until = time.monotonic() + self.limits.request_timeout

    def _discard(self, data: bytes) -> None:
        """Throw away what a refused request still sends; past the bound, close (a reset, as the bound is spent)."""
        assert self._discard_left is not None and self.transport is not None
        self._discard_left -= len(data)
        if self._discard_left < 0:
            self.transport.close()

    def cores_in_use(self) -> list[ReplayCore]:
        """The cores this connection serves from now: its open WebSocket's, or the one whose answer is going out."""
        if self.websocket is not None:
            return [self.websocket.conversation.core]
        serving = self._serving
        return [serving.core] if serving is not None and serving.core is not None else []

    def check_timeouts(self, now: float) -> None:
        """Refuse a request that is arriving too slowly (slowloris), close a connection idle too long."""
        if self.websocket is not None or self.transport is None or self.transport.is_closing():
            return
        if self._discard_left is not None:
            if now > self._discard_until:
                self.transport.close()
            return
        if self._request_began is not None and now - self._request_began > self.limits.request_timeout:
            self._refuse(_refusal(408, "rec_request_timeout", "the request did not arrive whole within "
                                  f"{self.limits.request_timeout:g} s (--limit request_timeout)"))
        elif not self._busy and now - self._last_active > self.limits.idle_timeout:
            self.transport.close()

    # --- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []
        self._header_bytes = self._body_bytes = self._stated_length = 0
        self._expect_continue = False
        self._request_began = time.monotonic()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.url:
            raise _refusal(414, "rec_uri_too_long", f"the request target is over {self.limits.url} bytes "
                                                    "(--limit url)")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._max_header_bytes or len(self._headers) > self._max_headers:
            raise _refusal(431, "rec_headers_too_large",
                           f"the request has over {self.limits.headers} headers or {self.limits.header_bytes} bytes "
                           "of them (--limit headers, --limit header_bytes)")
        if len(name) == 6 and name.lower() == b"expect":  # the length first: most headers are not it
            self._expect_continue = value.lower() == b"100-continue"
        elif len(name) == 14 and name.lower() == b"content-length" and value.strip().isdigit():
            self._stated_length = int(value)  # httptools refuses a malformed or repeated one

    def on_headers_complete(self) -> None:
        if self._stated_length > self.limits.body:  # refused before any of it is sent (or read)
            raise self._body_too_large()
        if self._expect_continue:
            assert self.transport is not None
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.body:
            raise self._body_too_large()

    def _body_too_large(self) -> Refused:
        return _refusal(413, "rec_body_too_large", f"the request body is over {self.limits.body} bytes (--limit body)")

    def on_message_complete(self) -> None:
        self._request_began = None
        self._last_stream = None  # a new request on this connection: the client read the last answer whole
        request = _Pending(
            self.parser.get_method().decode("latin-1"),
            self._url.decode("latin-1"),
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._headers],
            b"".join(self._body),
            self.parser.should_keep_alive(),
        )
        if self.parser.should_upgrade():
            self._upgrade = request
        elif self._busy:
            self._queue.append(request)
        else:
            self._answer(request)

    # --- answering --------------------------------------------------------------------

    def _answer(self, request: _Pending) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        answer, pace = self._decide(request)
        self._last_active = request.received
        if not pace and answer.immediate is not None:
            # The hot path: the whole precomputed response in one write (scale:0 paces nothing either).
            transport.write(answer.immediate)
            if isinstance(answer, StreamAnswer):
                self._last_stream = (request, answer)
            if not request.keep_alive:
                transport.close()
            return
        self._busy = True
        self.hub.spawn(self._send_paced(answer, pace, request))

    def _decide(self, request: _Pending) -> tuple[HttpAnswer, float | None]:
        """The answer to a request and its pace; a failure of rec's own is a 500 on a connection that stays open,
        never an exception inside the parser's callback (which would read as the client's malformed request)."""
        try:
            found = self.hub.core_for(request.target)
            if found is None:
                return self.hub.control(_request(request, request.target)), None
            core, target = found
            request.core, request.target = core, target
            return core.handle_http(_request(request, target)), core.pace
        except Exception as err:
            return error_answer(internal_error(request.method, request.target, err)), None

    async def _send_paced(self, answer: HttpAnswer, pace: float | None, request: _Pending) -> None:
        transport = self.transport
        assert transport is not None
        # Only a stream answered as recorded can be left unread; a cut is the recording's or a fault's.
        tracked = answer if isinstance(answer, StreamAnswer) and answer.cut is None else None
        if tracked is not None:
            self._sending = (request, tracked)
        self._serving = request
        try:
            reusable = await answer.send(transport, pace, request.received)
        except Exception:  # rec's own failure mid-answer: the client cannot be told on this stream, only cut off
            reusable = False
        finally:
            self._serving = None
        self._sending = None
        if tracked is not None and not transport.is_closing():
            self._last_stream = (request, tracked)
        self._busy = False
        if not reusable or not request.keep_alive:
            if not transport.is_closing():
                transport.close()
            return
        while self._queue and not self._busy:
            self._answer(self._queue.popleft())
        self._last_active = time.monotonic()

    def _note_unconsumed(self, request: _Pending, answer: StreamAnswer, problem: str) -> None:
        if request.core is not None:
            request.core.note_unconsumed(request.method, request.target, answer.index, problem)

    def _start_websocket(self, rest: bytes) -> None:
        request, self._upgrade = self._upgrade, None
        transport = self.transport
        assert request is not None and transport is not None
        assert self.flow is not None
        try:
            found = self.hub.core_for(request.target)
            if found is None:
                refusal: HttpAnswer | WebSocketConnection = self.hub.control(_request(request, request.target))
            else:
                # wsproto (and h11) load on the first upgrade, keeping start-to-listening short.
                from replayer.websocket import open_websocket

                core, target = found
                refusal = open_websocket(core, self.hub, transport, self.flow, request.method, target,
                                         request.headers)
        except Exception as err:
            refusal = error_answer(internal_error(request.method, request.target, err))
        if isinstance(refusal, ForwardedAnswer):
            self.hub.spawn(self._tunnel(refusal, rest))
            return
        if isinstance(refusal, HttpAnswer):
            # A refused upgrade (recorded 426, unknown route, nothing left): answer it and hang up.
            if refusal.immediate is None:  # computed as it is sent (rec serve's control API)
                self.hub.spawn(self._answer_then_close(refusal, request))
                return
            transport.write(refusal.immediate)
            transport.close()
            return
        self.websocket = refusal
        if rest:
            self.websocket.data_received(rest)

    async def _answer_then_close(self, answer: HttpAnswer, request: _Pending) -> None:
        transport = self.transport
        assert transport is not None
        try:
            await answer.send(transport, None, request.received)
        finally:
            transport.close()

    async def _tunnel(self, forwarded: ForwardedAnswer, rest: bytes) -> None:
        """Relay a whole WebSocket connection to the recorder, both ways, until either side ends it."""
        transport = self.transport
        assert transport is not None
        transport.pause_reading()  # nothing may be read before the relay exists
        reader, writer = await asyncio.open_connection(*forwarded.address)
        writer.write(forwarded.request_bytes(upgrade=True) + rest)
        self.tunnel = writer
        transport.resume_reading()
        try:
            await relay(reader, transport)
        finally:
            writer.close()
            transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _request(pending: _Pending, target: str) -> ResponsesRequest:
    return ResponsesRequest(pending.method, target, pending.headers, pending.body)


async def sweep_timeouts(hub: Hub) -> None:
    """Check every connection's timeouts once a second (one task per server, no timer per request)."""
    while True:
        await asyncio.sleep(min(1.0, hub.limits.request_timeout / 4))
        now = time.monotonic()
        for connection in list(hub.connections):
            connection.check_timeouts(now)
