"""The rules `rec check` applies to each cassette, each turning what it finds into ``Finding``s.

- ``streams``: every recorded answer is a well-formed Responses stream (rec.check.streams);
- ``secrets``: no credential survived redaction (a second line of defence over decoded content);
- ``stale``: the cassette is not older than the project's `max_age`;
- ``size``: no exchange is far larger than the cassette's others.
"""

from __future__ import annotations

import datetime
import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.check.age import is_stale
from rec.check.streams import stream_problems
from rec.encoding import ContentEncodingError, decode_body
from rec.sse import is_event_stream, split_events

# Credentials by shape. A redacted value reads `[REDACTED]`, which none of these match.
SECRET_SHAPES = (
    ("an OpenAI-style key", re.compile(rb"\bsk-[A-Za-z0-9_-]{16,}")),
    ("a bearer token", re.compile(rb"(?i)\bbearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{16,}")),
    ("a JWT", re.compile(rb"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
# Headers whose value is a credential however it looks.
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "openai-organization",
                            "openai-project", "proxy-authorization"})
REDACTED = "[REDACTED]"
# An exchange this many times the cassette's median (and at least this big) is reported.
SIZE_FACTOR = 10
SIZE_FLOOR = 256 * 1024


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a cassette: which rule, where, what, and what to do about it."""

    cassette: str
    exchange: int | None
    rule: str
    message: str
    fix: str
    fails: bool = True  # False: reported, but does not fail the check (on_expiry = "warn" or "rerecord")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckOptions:
    max_age: datetime.timedelta | None = None
    on_expiry: str = "warn"
    secret_patterns: Sequence[re.Pattern[bytes]] = ()  # the project's `--redact regex:` rules
    secret_headers: frozenset[str] = SECRET_HEADERS


def stream_findings(path: str, index: int, exchange: Exchange) -> Iterator[Finding]:
    """Rule `streams`: each SSE answer, and each WebSocket turn, well formed."""
    fix = "re-record it, or fix the scenario that built it (docs/check.md lists each rule)"
    if isinstance(exchange, HttpExchange):
        response = exchange.response
        if response is None or not is_event_stream(response.header("content-type")) or response.status >= 400:
            return
        events = [_json(event.data.encode()) for event in split_events(_decoded(response.body, response.header(
            "content-encoding"))) if event.data]
        for problem in stream_problems(events, cut=exchange.end.state == "error"):
            yield Finding(path, index, "streams", f"SSE answer: {problem}", fix)
    elif isinstance(exchange, WebSocketExchange):
        turns: list[list[Any]] = []
        for frame in exchange.frames:
            if frame.from_client:
                message = _json(frame.payload)
                if isinstance(message, dict) and message.get("type") == "response.create":
                    turns.append([])
            elif frame.is_text and turns:
                turns[-1].append(_json(frame.payload))
        last = len(turns) - 1
        closed_early = exchange.close is None or exchange.close.code not in (1000, None)
        for number, events in enumerate(turns):
            if not any(isinstance(e, dict) and e.get("type") == "response.created" for e in events) \
                    and all(isinstance(e, dict) and e.get("type") == "error" for e in events):
                continue  # a turn the server refused with an error event is not a stream
            for problem in stream_problems(events, cut=number == last and closed_early):
                yield Finding(path, index, "streams", f"WebSocket turn {number}: {problem}", fix)


def secret_findings(path: str, index: int, exchange: Exchange, options: CheckOptions) -> Iterator[Finding]:
    """Rule `secrets`: no credential in headers, URLs, bodies, events or frames, decoded."""
    fix = "delete the cassette and record it again (rec record redacts these), or add a --redact rule"
    for where, name, value in _headers(exchange):
        if name.lower() in options.secret_headers and value and value != REDACTED and REDACTED not in value:
            yield Finding(path, index, "secrets", f"the {where} header {name!r} holds an unredacted value", fix)
    for where, content in _contents(exchange):
        for label, shape in (*SECRET_SHAPES, *(("a match of a --redact rule", p) for p in options.secret_patterns)):
            found = shape.search(content)
            if found is not None:
                shown = found.group(0)[:12].decode(errors="replace")
                yield Finding(path, index, "secrets", f"{where} holds {label} ({shown}…)", fix)
                break


def stale_finding(path: Path, options: CheckOptions) -> Finding | None:
    """Rule `stale`: older than max_age; what on_expiry says decides whether it fails the check."""
    if options.max_age is None or not is_stale(path, options.max_age):
        return None
    fix = {"fail": "record it again (pytest --rec-mode=rewrite, or rec record)",
           "warn": "record it again when you can (on_expiry = \"warn\")",
           "rerecord": "the next pytest --rec-mode=once run records it again (on_expiry = \"rerecord\")"}
    return Finding(str(path), None, "stale", f"older than max_age ({options.max_age})", fix[options.on_expiry],
                   fails=options.on_expiry == "fail")


def size_findings(path: str, sizes: list[int]) -> Iterator[Finding]:
    """Rule `size`: exchanges far above the cassette's median stored size."""
    if len(sizes) < 3:
        return
    median = statistics.median(sizes)
    for index, size in enumerate(sizes):
        if size >= SIZE_FLOOR and size > SIZE_FACTOR * median:
            yield Finding(path, index, "size", f"{size} bytes stored, {size / median:.0f}x the cassette's median "
                          f"({median:.0f})", "see what it holds (rec show --json); trim the test's input, or split it")


def _headers(exchange: Exchange) -> Iterator[tuple[str, str, str]]:
    if isinstance(exchange, HttpExchange | WebSocketExchange):
        for name, value in exchange.request.headers:
            yield "request", name, value
        if exchange.response is not None:
            for name, value in exchange.response.headers:
                yield "response", name, value


def _contents(exchange: Exchange) -> Iterator[tuple[str, bytes]]:
    """Every byte string of an exchange a secret could hide in, decoded where it was encoded."""
    if not isinstance(exchange, HttpExchange | WebSocketExchange):
        return
    request = exchange.request
    yield "the request URL", (request.path + "?" + "&".join(f"{k}={v}" for k, v in request.query)).encode()
    yield "the request headers", "\n".join(f"{k}: {v}" for k, v in request.headers
                                           if k.lower() not in SECRET_HEADERS).encode()  # those: the header rule
    yield "the request body", _decoded(request.content, None if request.decoded_body else request.header(
        "content-encoding"))
    response = exchange.response
    if response is not None:
        yield "the response body", _decoded(response.body, response.header("content-encoding"))
    if isinstance(exchange, WebSocketExchange):
        for number, frame in enumerate(exchange.frames):
            yield f"WebSocket frame {number}", frame.payload
        if exchange.close is not None:
            yield "the close reason", exchange.close.reason.encode()


def _decoded(data: bytes, encoding: str | None) -> bytes:
    try:
        return decode_body(data, encoding)
    except ContentEncodingError:
        return data


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
