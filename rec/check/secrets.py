"""Rule family `secrets`: no credential survived redaction, a second line of defence behind `rec record`.

It looks at what a client or a reader of the cassette would see: URLs, headers, bodies
with their Content-Encoding undone, SSE events, WebSocket frames and close reasons. It
finds credentials by shape (OpenAI keys, bearer tokens, JWTs), by place (the recorder's
credential headers and query parameters), and by the project's own `--redact` rules
(``rec.redaction.Rules``: header:NAME, json:PATH, regex:PATTERN).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.check.report import CheckOptions, Finding
from rec.encoding import ContentEncodingError, decode_body
from rec.redaction import OPENAI_KEY, PLACEHOLDER, SECRET_QUERY_NAMES, scalars, values_at
from rec.sse import split_events

# Credentials by shape. `[REDACTED]` matches none of them. The key needs a word boundary here (the recorder
# scrubs every match): a reader sees a key where one starts, not inside a base64 blob.
SECRET_SHAPES = (
    ("an OpenAI-style key", re.compile(rb"\bsk-[A-Za-z0-9_-]{16,}")),
    # A token with a digit in it: prose about "Bearer YOUR_TOKEN_HERE" is not a credential.
    ("a bearer token", re.compile(rb"(?i)\bbearer\s+(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{16,}")),
    ("a JWT", re.compile(rb"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
)
FIX = "delete the cassette and record it again (rec record redacts credentials), or add a --redact rule to it"
# Locations listed in one finding before "and N more".
SHOWN_PLACES = 3


def secret_findings(path: str, index: int, exchange: Exchange, options: CheckOptions) -> Iterator[Finding]:
    """One finding per kind of credential an exchange holds, naming where it is."""
    if not isinstance(exchange, HttpExchange | WebSocketExchange):
        return
    rules = options.redact
    for where, name, value in _headers(exchange):
        if name.lower() in rules.headers and value and PLACEHOLDER not in value:
            yield Finding(path, index, "secrets", f"the {where} header {name!r} is not redacted", FIX)
    for name, value in exchange.request.query:
        if name.lower() in SECRET_QUERY_NAMES and value and PLACEHOLDER not in value:
            yield Finding(path, index, "secrets", f"the query parameter {name!r} is not redacted", FIX)
    shapes = [*SECRET_SHAPES, *(("a match of a --redact regex", p) for p in rules.patterns if p is not OPENAI_KEY)]
    found: dict[str, tuple[bytes, list[str]]] = {}  # what -> (the first match, where)
    for where, content in _contents(exchange, rules.headers):
        for label, shape in shapes:
            match = shape.search(content)
            if match is not None:
                found.setdefault(label, (match.group(0), []))[1].append(where)
        if rules.json_paths:
            for value in _json_values(content, rules.json_paths):
                found.setdefault("a value at a --redact json: path", (value.encode(), []))[1].append(where)
    for label, (sample, places) in found.items():
        shown = ", ".join(places[:SHOWN_PLACES]) + (f" and {len(places) - SHOWN_PLACES} more"
                                                     if len(places) > SHOWN_PLACES else "")
        preview = sample[:7].decode(errors="replace")
        yield Finding(path, index, "secrets", f"{shown} hold{'s' if len(places) == 1 else ''} {label} "
                      f"({preview}…, {len(sample)} characters)", FIX)


def _headers(exchange: HttpExchange | WebSocketExchange) -> Iterator[tuple[str, str, str]]:
    for name, value in exchange.request.headers:
        yield "request", name, value
    if exchange.response is not None:
        for name, value in exchange.response.headers:
            yield "response", name, value


def _contents(exchange: HttpExchange | WebSocketExchange, secret_headers: frozenset[str]) -> Iterator[
        tuple[str, bytes]]:
    """Every byte string of an exchange a secret could hide in, decoded where it was encoded."""
    request = exchange.request
    yield "the request URL", (request.path + "?" + "&".join(f"{k}={v}" for k, v in request.query)).encode()
    # Credential headers are the header rule's: their redacted values say nothing more here.
    yield "a request header", "\n".join(f"{k}: {v}" for k, v in request.headers
                                           if k.lower() not in secret_headers).encode()
    yield "the request body", request.content if request.decoded_body is not None else _decoded(
        request.body, request.header("content-encoding"))
    response = exchange.response
    if response is not None:
        yield "a response header", "\n".join(f"{k}: {v}" for k, v in response.headers
                                                if k.lower() not in secret_headers).encode()
        yield "the response body", _decoded(response.body, response.header("content-encoding"))
    if isinstance(exchange, WebSocketExchange):
        for number, frame in enumerate(exchange.frames):
            yield f"WebSocket frame {number}", frame.payload
        if exchange.close is not None:
            yield "the close reason", exchange.close.reason.encode()


def _json_values(content: bytes, paths: tuple[tuple[str, ...], ...]) -> Iterator[str]:
    """The values at the json: paths, in a JSON body or in each event of an SSE body, not already redacted."""
    documents: list[Any] = []
    try:
        documents.append(orjson.loads(content))
    except orjson.JSONDecodeError:
        if b"data:" in content:  # an SSE body: each event's data is a document
            for event in split_events(content):
                try:
                    documents.append(orjson.loads(event.data or ""))
                except orjson.JSONDecodeError:
                    continue
    for document in documents:
        for path in paths:
            for found in values_at(document, path):
                for value in scalars(found):
                    if value not in ("", PLACEHOLDER):
                        yield value


def _decoded(data: bytes, encoding: str | None) -> bytes:
    try:
        return decode_body(data, encoding)
    except ContentEncodingError:
        return data
