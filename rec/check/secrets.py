"""Rule family `secrets`: no credential survived redaction, a second line of defence behind `rec record`.

It looks at what a client or a reader of the cassette would see: URLs, headers, reason
phrases, bodies with their Content-Encoding undone, SSE events, WebSocket frames and close
reasons. It finds credentials with the recorder's own rules (``rec.redaction``): by shape (the
same detectors the recorder scrubs with), by place (the credential headers and query
parameters), and by the project's own `--redact` rules (header:NAME, json:PATH,
regex:PATTERN, allow:PATTERN). Each credential is one finding, naming the exchange, where it
stands and its kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.check.bodies import answer_of, decoded
from rec.check.report import CheckOptions, Finding
from rec.jsonpath import values_at
from rec.redaction import PLACEHOLDER, SECRET_QUERY_NAMES, scalars
from rec.sse import split_events

FIX = "delete the cassette and record it again (rec record redacts credentials), or add a --redact rule to it"
JSON_RULE = "a value at a --redact json: path"
# Places listed in one finding before "and N more".
SHOWN_PLACES = 3
# The characters of a credential a finding shows: enough to find it, too few to use it.
PREVIEW = 7


def secret_findings(path: str, index: int, exchange: Exchange, options: CheckOptions,
                    answer: bytes | None = None) -> list[Finding]:
    """One finding per credential an exchange holds, naming its kind and where it stands. ``answer``: the response
    body as ``answer_of`` reads it, when the caller has read it already."""
    if not isinstance(exchange, HttpExchange | WebSocketExchange):
        return []
    rules = options.redact
    request, response = exchange.request, exchange.response
    findings = [Finding(path, index, "secrets", f"the {where} header {name!r} is not redacted", FIX)
                for where, headers in (("request", request.headers), ("response", response.headers if response else []))
                for name, value in headers if name.lower() in rules.headers and value and PLACEHOLDER not in value]
    findings += [Finding(path, index, "secrets", f"the query parameter {name!r} is not redacted", FIX)
                 for name, value in request.query
                 if name.lower() in SECRET_QUERY_NAMES and value and PLACEHOLDER not in value]
    texts = _texts(exchange, rules.headers, answer)
    # Most exchanges hold no credential: one look over all their text at once says so.
    shaped = rules.may_hold_credentials(b"\n".join(texts))
    if not shaped and not rules.json_paths:
        return findings
    found: dict[bytes, tuple[str, list[Place]]] = {}  # each credential -> (its kind, where it stands)
    for place, content in zip(_places(exchange, rules.headers), texts, strict=True):
        for start, end, kind in rules.credentials(content) if shaped else ():
            _note(found, content[start:end], kind, place)
        if rules.json_paths:
            for value in _json_values(content, rules.json_paths):
                _note(found, value.encode(), JSON_RULE, place)
    for credential, (kind, places) in found.items():
        shown = ", ".join(map(_named, places[:SHOWN_PLACES])) + (f" and {len(places) - SHOWN_PLACES} more"
                                                                if len(places) > SHOWN_PLACES else "")
        preview = credential[:PREVIEW].decode(errors="replace")
        findings.append(Finding(path, index, "secrets", f"{shown} hold{'s' if len(places) == 1 else ''} a "
                                f"credential: {kind} ({preview}…, {len(credential)} characters)", FIX))
    return findings


# Where a text stands: the kind of place, and which one (a header's name, a frame's number) when there are many.
Place = tuple[str, str | int | None]


def _named(place: Place) -> str:
    kind, which = place
    if which is None:
        return kind
    return f"{kind} {which!r}" if isinstance(which, str) else f"{kind} {which}"


def _note(found: dict[bytes, tuple[str, list[Place]]], value: bytes, kind: str, place: Place) -> None:
    places = found.setdefault(value, (kind, []))[1]
    if place not in places:
        places.append(place)


def _texts(exchange: HttpExchange | WebSocketExchange, secret_headers: frozenset[str],
           answer: bytes | None) -> list[bytes]:
    """Every byte string of an exchange a secret could hide in, decoded where it was encoded; ``_places`` says
    where each stands. Credential headers are the header rule's: their redacted values say nothing more here."""
    request = exchange.request
    texts = [(request.path + "?" + "&".join([f"{k}={v}" for k, v in request.query])).encode()]
    texts += [value.encode("utf-8", "surrogateescape") for name, value in request.headers
              if name.lower() not in secret_headers]
    texts.append(request.content if request.decoded_body is not None else decoded(
        request.body, request.header("content-encoding")))
    response = exchange.response
    if response is not None:
        texts.append(response.reason.encode())
        texts += [value.encode("utf-8", "surrogateescape") for name, value in response.headers
                  if name.lower() not in secret_headers]
        texts.append(answer if answer is not None else answer_of(exchange) or b"")
    if isinstance(exchange, WebSocketExchange):
        texts += [frame.payload for frame in exchange.frames]
        if exchange.close is not None:
            texts.append(exchange.close.reason.encode())
    return texts


def _places(exchange: HttpExchange | WebSocketExchange, secret_headers: frozenset[str]) -> list[Place]:
    """Where each of ``_texts`` stands, in its order: named only when a text is looked at closer (most are not,
    so they are not named to be gathered)."""
    request = exchange.request
    places: list[Place] = [("the request URL", None)]
    places += [("the request header", name) for name, _ in request.headers if name.lower() not in secret_headers]
    places.append(("the request body", None))
    response = exchange.response
    if response is not None:
        places.append(("the reason phrase", None))
        places += [("the response header", name) for name, _ in response.headers if name.lower() not in secret_headers]
        places.append(("the response body", None))
    if isinstance(exchange, WebSocketExchange):
        places += [("WebSocket frame", number) for number in range(len(exchange.frames))]
        if exchange.close is not None:
            places.append(("the close reason", None))
    return places


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
