"""Recorded exchanges as the matcher holds them: each one's route, request and answer, and what was served.

``Recorded`` is one exchange of the loaded cassettes, decoded on first use when its cassette
was indexed; ``RoutePool`` the exchanges of one route in recorded order; ``TurnMatch`` a
WebSocket turn picked for a client message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, IndexedRecord, Request, WebSocketExchange
from rec.encoding import ContentEncodingError, decode_body
from replayer.answers import Answer, WebSocketAnswer, compile_exchange
from replayer.routes import Route, query_of
from replayer.turns import Turn


@dataclass(eq=False)
class Recorded:
    """One recorded exchange ready to match: its route at once; its request and answer on first use.

    ``record`` is the exchange itself, or its compressed record (``IndexedRecord``) from a cassette
    indexed for serving: a large cassette then loads without decoding answers never asked for.
    """

    index: int
    source: str
    route: Route
    record: IndexedRecord | HttpExchange | WebSocketExchange
    query_string: str = ""  # the recorded request's query as sent (most requests have none)
    key: bytes | None = None
    used: bool = False
    turns_used: set[int] = field(default_factory=set)
    # A WebSocket exchange whose connection an injected fault cut: the next connection to it
    # resumes after the turns already served (the client's retry), not from the start.
    resumes: bool = False

    @property
    def label(self) -> str:
        # The file name only: the cassette's folder is in the report's header (and the test's message).
        return f"#{self.index} ({os.path.basename(self.source)})" if self.source else f"#{self.index}"

    @property
    def is_websocket(self) -> bool:
        """Whether the record is a WebSocket connection, known without decoding it."""
        record = self.record
        if isinstance(record, IndexedRecord):
            return record.kind == "websocket"
        return isinstance(record, WebSocketExchange)

    @cached_property
    def query(self) -> dict[str, list[str]]:
        """The recorded request's query parameters (credentials left out, ``replayer.routes.query_of``)."""
        return query_of("?" + self.query_string) if self.query_string else {}

    @cached_property
    def exchange(self) -> Exchange:
        """The whole exchange; decoded here the first time for an indexed record (CassetteError if malformed)."""
        return self.record.exchange() if isinstance(self.record, IndexedRecord) else self.record

    @cached_property
    def request(self) -> Request:
        exchange = self.exchange
        assert isinstance(exchange, HttpExchange | WebSocketExchange)
        return exchange.request

    @cached_property
    def answer(self) -> Answer:
        answer = compile_exchange(self.exchange, self.index, self.source)
        assert answer is not None  # only HTTP and WebSocket records are indexed
        return answer

    @cached_property
    def body(self) -> Any:
        """The recorded request's JSON body (None for none, or a WebSocket handshake); parsed on first use,
        so a sequence-mode load of a large cassette does not parse every request."""
        return None if isinstance(self.answer, WebSocketAnswer) else _parse_recorded_body(self.request)


def _parse_recorded_body(request: Request) -> Any:
    content = request.content
    if request.decoded_body is None and request.header("content-encoding"):
        try:
            content = decode_body(request.body, request.header("content-encoding"))
        except ContentEncodingError:
            return None
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


@dataclass
class TurnMatch:
    """A recorded WebSocket turn picked for a client message, and the exchange it belongs to."""

    entry: Recorded | None
    number: int
    turn: Turn


@dataclass
class RoutePool:
    """The recorded exchanges of one route, in recorded order, with the sequence cursor."""

    entries: list[Recorded] = field(default_factory=list)
    next: int = 0
    last: Recorded | None = None  # the last one served, for --repeat

    def use(self, entry: Recorded) -> Recorded:
        entry.used = True
        self.last = entry
        return entry

    def describe(self) -> str:
        labels = ", ".join(entry.label for entry in self.entries[:8])
        more = f" and {len(self.entries) - 8} more" if len(self.entries) > 8 else ""
        unused = sum(not entry.used for entry in self.entries)
        return f"{len(self.entries)} recorded ({labels}{more}), {unused} unused"
