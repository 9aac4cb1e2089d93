"""The mitmproxy addon: turns finished flows into cassette records, and nothing else.

Streams pass through live: ``responseheaders`` sets ``flow.response.stream`` to a
callable that keeps each chunk with its time and hands it straight back to mitmproxy.
Each exchange is redacted, then appended to the cassette the moment it finishes, so a
killed recorder loses only what was still in flight. An exchange that cannot be written
(the disk refuses it, a hook fails on it) is never dropped in silence: it is handed to
``lose`` with its cause, and nothing more of it is written.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mitmproxy import http

from rec.cassette import (
    Close,
    End,
    Exchange,
    Frame,
    HttpExchange,
    RecordTooLargeError,
    Request,
    Response,
    WebSocketExchange,
    WebSocketPart,
)
from rec.encoding import DEFAULT_LIMIT, ContentEncodingError, decode_body, encodings_of
from recorder.redact import Redactor

# A server event that ends a turn on the Responses WebSocket: the turn is written then.
_TURN_ENDS = (b'"response.completed"', b'"response.failed"', b'"response.incomplete"', b'"response.done"',
              b'"type":"error"', b'"type": "error"')

# Paths recorded in forward-proxy mode unless --record-all: the Responses API and what
# its clients call beside it.
RESPONSES_API_PATHS = ("/responses", "/models", "/backend-api/codex/")


def describe_flow(flow: http.HTTPFlow) -> str:
    """How a log line names an exchange: method (or WS) and path, without its query (a credential can sit there)."""
    path = flow.request.path.partition("?")[0]
    return f"WS {path}" if flow.websocket is not None else f"{flow.request.method} {path}"


def loss_cause(err: Exception) -> str:
    """Why an exchange could not be written, in words for the log line."""
    if isinstance(err, OSError):
        return f"the disk refused the write: {err.strerror or err}"
    if isinstance(err, RecordTooLargeError):
        return str(err)
    return f"{type(err).__name__}: {err}"


Hook = Callable[["RecordAddon", http.HTTPFlow], None]


def guarded(hook: Hook) -> Hook:
    """A hook whose failure loses its exchange loudly (named, counted), never silently through mitmproxy's log."""

    @functools.wraps(hook)
    def run(self: RecordAddon, flow: http.HTTPFlow) -> None:
        if flow.id in self.lost:
            return
        try:
            hook(self, flow)
        except Exception as err:
            self.lose_flow(flow, err)

    return run


@dataclass
class _Chunks:
    """The ``flow.response.stream`` callable: called per network read, then once with b""."""

    started: float
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    def __call__(self, data: bytes) -> bytes:
        if data:
            self.chunks.append(((time.time() - self.started) * 1000.0, data))
        return data


def error_kind(message: str) -> str:
    """A short kind for a mitmproxy error on an established connection: reset, timeout, killed, cut."""
    lowered = message.lower()
    if "reset" in lowered:
        return "reset"
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    if "killed" in lowered:
        return "killed"
    return "cut"


class RecordAddon:
    """Captures HTTP exchanges (with timed chunks) and WebSocket conversations into a cassette."""

    def __init__(self, append: Callable[[Exchange | WebSocketPart], None], redactor: Redactor,
                 in_scope: Callable[[http.HTTPFlow], bool] = lambda flow: True,
                 lose: Callable[[str, str], None] = lambda what, cause: None) -> None:
        self._append = append
        self._redactor = redactor
        self._in_scope = in_scope
        self._lose = lose
        self._streams: dict[str, _Chunks] = {}
        self.in_flight: dict[str, http.HTTPFlow] = {}
        self._frames_written: dict[str, int] = {}  # per open WebSocket: frames already appended in parts
        self.lost: set[str] = set()  # flows that could not be written: nothing more of them is

    def lose_flow(self, flow: http.HTTPFlow, err: Exception) -> None:
        """Forget a flow that could not be written and report it once, with its cause."""
        self.lost.add(flow.id)
        self.in_flight.pop(flow.id, None)
        self._streams.pop(flow.id, None)
        self._frames_written.pop(flow.id, None)
        self._lose(describe_flow(flow), loss_cause(err))

    # --- hooks ------------------------------------------------------------------------

    @guarded
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Every in-scope flow is tracked from its first byte, so shutdown can close it cleanly."""
        if self._in_scope(flow):
            self.in_flight[flow.id] = flow

    @guarded
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream every in-scope body through, timing each chunk (never buffered)."""
        if flow.id in self.in_flight and flow.response is not None:
            chunks = _Chunks(started=flow.request.timestamp_start)
            self._streams[flow.id] = chunks
            flow.response.stream = chunks

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        """A completed HTTP exchange is written now; a WebSocket waits for websocket_end."""
        if flow.id not in self.in_flight or flow.websocket is not None:
            return
        self._finish_http(flow, End(state="completed", at_ms=self._ms_since_start(flow)))

    @guarded
    def error(self, flow: http.HTTPFlow) -> None:
        """A reset, timeout, cut or unreachable upstream is written as a failed exchange."""
        if flow.id not in self.in_flight or flow.websocket is not None:
            return
        message = flow.error.msg if flow.error else "unknown error"
        kind = "upstream_unreachable" if flow.server_conn.timestamp_tcp_setup is None else error_kind(message)
        self._finish_http(flow, End(state="error", error=kind, message=message,
                                    at_ms=self._ms_since_start(flow)))

    @guarded
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        """Learn the handshake's secrets before any frame is scrubbed (a token seen only there included)."""
        if flow.id in self.in_flight:
            self._frames_written[flow.id] = 0
            self._learn_request(flow)
            if flow.response is not None:
                self._redactor.learn_headers(_pairs(flow.response.headers))

    @guarded
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        """A turn the server just ended is appended now, so a killed recorder keeps every finished turn."""
        if flow.id not in self._frames_written or flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if not message.from_client and message.is_text and any(end in message.content for end in _TURN_ENDS):
            self._append(WebSocketPart(flow.id, self._websocket(flow, close=False)))

    @guarded
    def websocket_end(self, flow: http.HTTPFlow) -> None:
        """The rest of a WebSocket, with its close, is appended when it closes."""
        if self.in_flight.pop(flow.id, None) is None or flow.websocket is None:
            return
        self._streams.pop(flow.id, None)
        self._append(WebSocketPart(flow.id, self._websocket(flow, close=True), final=True))
        self._frames_written.pop(flow.id, None)

    def _websocket(self, flow: http.HTTPFlow, close: bool) -> WebSocketExchange:
        """The handshake and the frames not written yet (and, at the end, the close), redacted."""
        assert flow.response is not None and flow.websocket is not None
        request = self._request(flow)  # learns the handshake's secrets before the frames are scrubbed
        response_headers = self._redactor.headers(_pairs(flow.response.headers))
        started = flow.request.timestamp_start
        ws = flow.websocket
        first = self._frames_written.get(flow.id, 0)
        self._frames_written[flow.id] = len(ws.messages)
        messages = ws.messages[first:]
        frames = [
            Frame(at_ms=(m.timestamp - started) * 1000.0, from_client=m.from_client, is_text=m.is_text,
                  payload=payload)
            for m, payload in zip(messages, self._redactor.scrub_frames([m.content for m in messages]), strict=True)
        ]
        ending = None
        if close:
            by: Literal["client", "server"] | None = (
                None if ws.closed_by_client is None else "client" if ws.closed_by_client else "server")
            ended = ws.timestamp_end or time.time()
            ending = Close(code=ws.close_code, reason=self._redactor.scrub_text(ws.close_reason or ""), by=by,
                           at_ms=(ended - started) * 1000.0)
        extensions = [e.strip() for e in (flow.response.headers.get("sec-websocket-extensions") or "").split(",")
                      if e.strip()]
        return WebSocketExchange(
            request=request,
            response=Response(status=flow.response.status_code,
                              reason=self._redactor.scrub_text(_as_text(flow.response.reason)),
                              headers=response_headers),
            extensions=extensions,
            frames=frames,
            close=ending,
        )

    # --- building records -------------------------------------------------------------

    @staticmethod
    def _ms_since_start(flow: http.HTTPFlow) -> float:
        return (time.time() - flow.request.timestamp_start) * 1000.0

    def _learn_request(self, flow: http.HTTPFlow) -> tuple[bytes, bytes | None]:
        """Learn the request's secrets (headers, query, credential keys of its body) before anything is scrubbed;
        returns its body as sent and decoded."""
        request = flow.request
        self._redactor.learn_headers(_pairs(request.headers))
        self._redactor.learn_query(_pairs(request.query))
        raw, decoded = _request_body(flow)
        self._redactor.learn_json(decoded if decoded is not None else raw)
        return raw, decoded

    def _request(self, flow: http.HTTPFlow) -> Request:
        """The request as sent, redacted; an encoded body is kept as sent and decoded beside it."""
        request = flow.request
        raw, decoded = self._learn_request(flow)
        headers = self._redactor.headers(_pairs(request.headers))
        encoding = request.headers.get("content-encoding")
        body = raw
        extra: dict[str, object] = {}
        if decoded is not None:
            clean = self._redactor.scrub(decoded)
            if clean != decoded:
                # A secret inside a compressed body: store it re-encoded, without the secret; a coding
                # that cannot be written again is stored plain, its Content-Encoding header dropped.
                extra["body_reencoded_after_redaction"] = True
                reencoded = _reencode(clean, encoding)
                if reencoded is None:
                    headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
                    body, decoded = clean, None
                else:
                    body, decoded = reencoded, clean
        else:
            body = self._redactor.scrub(raw)
        return Request(
            method=_as_text(request.method),
            path=self._redactor.scrub_text(_as_text(request.path.partition("?")[0])),
            query=self._redactor.query(_pairs(request.query)),
            headers=headers,
            body=body,
            decoded_body=decoded,
            started_at=request.timestamp_start,
            extra=extra,
        )

    def _finish_http(self, flow: http.HTTPFlow, end: End) -> None:
        """Learn every secret of the exchange (both ways) first, then scrub and write it."""
        self.in_flight.pop(flow.id, None)
        chunks = self._streams.pop(flow.id, None)
        timed: list[tuple[float, bytes]] = []
        headers: list[tuple[str, str]] = []
        answered = flow.response is not None and (chunks is not None or end.state == "completed")
        if flow.response is not None and answered:
            timed = chunks.chunks if chunks is not None else [(end.at_ms, flow.response.raw_content or b"")]
            timed, headers = _decoded_response(timed, _pairs(flow.response.headers))
            self._redactor.learn_headers(headers)
            self._redactor.learn_json(b"".join(data for _, data in timed))
        request = self._request(flow)
        response: Response | None = None
        if flow.response is not None and answered:
            response = Response(
                status=flow.response.status_code,
                reason=self._redactor.scrub_text(_as_text(flow.response.reason)),
                headers=self._redactor.headers(headers),
                chunks=self._redactor.scrub_chunks([(at, data) for at, data in timed if data]),
            )
        self._append(HttpExchange(request=request, response=response, end=end))


def _as_text(text: str) -> str:
    """Text as mitmproxy reads it (UTF-8, each byte that is not UTF-8 escaped as a lone surrogate) with each such
    byte read as the Latin-1 character it names: a cassette holds text, and a header value may carry any byte (RFC
    9110 obs-text, historically ISO-8859-1). Left escaped, the exchange could not be written."""
    return text if text.isascii() or not _ESCAPED_BYTE.search(text) else _ESCAPED_BYTE.sub(
        lambda byte: chr(ord(byte.group()) - 0xDC00), text)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _pairs(fields: Any) -> list[tuple[str, str]]:
    """A mitmproxy multi-dict's (name, value) pairs as text (``_as_text``): headers, query parameters."""
    return [(_as_text(name), _as_text(value)) for name, value in fields.items(multi=True)]


def _request_body(flow: http.HTTPFlow) -> tuple[bytes, bytes | None]:
    """The request body as sent, and decoded when it was sent with a Content-Encoding that decodes."""
    raw = flow.request.raw_content or b""
    encoding = flow.request.headers.get("content-encoding")
    if not encodings_of(encoding):
        return raw, None
    try:
        return raw, decode_body(raw, encoding)
    except ContentEncodingError:
        return raw, None


def _reencode(body: bytes, content_encoding: str | None) -> bytes | None:
    """``body`` encoded again as the client sent it; None for a coding this recorder cannot write."""
    import gzip
    import zlib

    import zstandard

    encoders: dict[str, Callable[[bytes], bytes]] = {
        "zstd": lambda b: zstandard.ZstdCompressor(level=3).compress(b), "gzip": gzip.compress,
        "x-gzip": gzip.compress, "deflate": zlib.compress}
    try:
        import brotli

        encoders["br"] = brotli.compress
    except ImportError:
        pass
    for coding in encodings_of(content_encoding):
        encoder = encoders.get(coding)
        if encoder is None:
            return None
        body = encoder(body)
    return body


def _decoded_response(chunks: list[tuple[float, bytes]],
                      headers: list[tuple[str, str]]) -> tuple[list[tuple[float, bytes]], list[tuple[str, str]]]:
    """A compressed answer (the SDKs send Accept-Encoding) stored decoded, so redaction sees its content.

    Each chunk is decoded as it came (keeping its time), and the Content-Encoding and
    Content-Length headers go: the replay serves the plain body, which every client takes.
    A body that does not decode is kept as it came.
    """
    encoding = next((value for name, value in headers if name.lower() == "content-encoding"), None)
    if not encodings_of(encoding):
        return chunks, headers
    try:
        decoded = _decode_stream(chunks, encoding)
    except ContentEncodingError:
        return chunks, headers
    kept = [(name, value) for name, value in headers if name.lower() not in ("content-encoding", "content-length")]
    return decoded, kept


def _decode_stream(chunks: list[tuple[float, bytes]], encoding: str | None) -> list[tuple[float, bytes]]:
    """Decode chunk by chunk when one coding is streamable (gzip, deflate, zstd), else the whole body at once."""
    import zlib

    import zstandard

    codings = encodings_of(encoding)
    whole = b"".join(data for _, data in chunks)
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate", "zstd"):
        coding = codings[0]
        inflater: Any = (zstandard.ZstdDecompressor().decompressobj() if coding == "zstd" else
                         zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in coding else zlib.MAX_WBITS))
        out, total = [], 0
        try:
            for at, data in chunks:
                piece = inflater.decompress(data)
                total += len(piece)
                if total > DEFAULT_LIMIT:
                    raise ContentEncodingError(f"its {coding} content inflates past {DEFAULT_LIMIT} bytes")
                out.append((at, piece))
            return out
        except (zlib.error, zstandard.ZstdError):
            pass  # raw deflate, or frames the stream decoder does not take: decode the whole body below
    last = chunks[-1][0] if chunks else 0.0
    return [(last, decode_body(whole, encoding))]


def in_responses_api(flow: http.HTTPFlow) -> bool:
    """Forward-proxy scope: only the Responses API and its neighbours."""
    path = flow.request.path.partition("?")[0]
    return any(part in path for part in RESPONSES_API_PATHS)
