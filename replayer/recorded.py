"""Recorded exchanges as the matcher holds them: each one's route, request and answer, and what was served.

``Recorded`` is one exchange of the loaded cassettes: its route and what its serves left
behind, always; its request and compiled answer (``Decoded``) only while it is in use.
``DecodedCache`` keeps the exchanges decoded last, so a long replay holds what it is
serving rather than everything it has served. ``RoutePool`` holds the exchanges of one
route in recorded order; ``TurnMatch`` a WebSocket turn picked for a client message.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, IndexedRecord, Request, WebSocketExchange
from rec.encoding import ContentEncodingError, decode_body
from replayer.answers import Answer, WebSocketAnswer, compile_exchange
from replayer.routes import Route, query_of
from replayer.served import Served
from replayer.turns import Turn


class Decoded:
    """One recorded exchange decoded for serving: its request, its compiled answer and its parsed request body,
    each of the last two built on first use."""

    def __init__(self, exchange: Exchange, index: int, source: str, size: int = -1,
                 record: IndexedRecord | None = None) -> None:
        assert isinstance(exchange, HttpExchange | WebSocketExchange)  # only these are served
        self._exchange: HttpExchange | WebSocketExchange | None = exchange  # until its answer is compiled
        self.request: Request = exchange.request
        self.index = index
        self.source = source
        self._record = record  # the record it was decoded from, if it was
        # About how many bytes it holds: what its request and answer carry (the record's decoded size when known).
        self.weight = size if size >= 0 else _weight(exchange)

    @cached_property
    def answer(self) -> Answer:
        # The exchange goes once compiled: an answer holds what it sends, and the recorded chunks, hundreds of
        # objects, are let go now rather than when the cache drops this (replayer.answers.StreamAnswer).
        assert self._exchange is not None
        answer = compile_exchange(self._exchange, self.index, self.source, self._record)
        assert answer is not None
        self._exchange = None
        return answer

    @cached_property
    def body(self) -> Any:
        """The recorded request's JSON body (None for none, or a WebSocket handshake)."""
        return None if isinstance(self.answer, WebSocketAnswer) else _parse_recorded_body(self.request)


def _weight(exchange: HttpExchange | WebSocketExchange) -> int:
    if isinstance(exchange, WebSocketExchange):
        return sum(len(frame.payload) for frame in exchange.frames)
    response = exchange.response
    return len(exchange.request.content) + (response.body_size if response else 0)


class DecodedCache:
    """The exchanges decoded last, up to ``max_entries`` of them and ``max_bytes`` of what they carry.

    An exchange pushed out is decoded again from its record when next asked for (a cassette decoded at
    load keeps its exchanges; only their compiled answers and parsed bodies go). One still held
    elsewhere (``Recorded.hold``: a WebSocket connection open on it) is found again, not decoded twice.

    It keeps few: what a replay asks for again is what it served last (``--repeat``, a request that
    continues the answer before it). A decoded answer is hundreds of objects (its chunks); kept
    for hundreds of serves, they outlive young collections and are walked by the cyclic collector,
    then freed long cold: that cost a first serve of a large cassette more than decoding its
    record (bench/README.md, "First serve at any size").
    """

    def __init__(self, max_entries: int = 32, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # The decoded size of each record decoded at load (an indexed record reads its own from its frame).
        self.sizes: dict[Recorded, int] = {}
        self._kept: OrderedDict[Recorded, Decoded] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def decode(self, entry: Recorded) -> Decoded:
        """The entry decoded: the copy still in use if there is one, else decoded now; kept as the latest."""
        decoded = entry.alive() if entry.alive is not None else None
        if decoded is None:
            record = entry.record
            if isinstance(record, IndexedRecord):
                decoded = Decoded(record.exchange(), entry.index, entry.source, record.size, record)
            else:
                decoded = Decoded(record, entry.index, entry.source, self.sizes.get(entry, -1))
            entry.alive = weakref.ref(decoded)
        entry.decoded = decoded
        self._kept[entry] = decoded
        self._bytes += decoded.weight
        while len(self._kept) > 1 and (len(self._kept) > self.max_entries or self._bytes > self.max_bytes):
            oldest, dropped = self._kept.popitem(last=False)
            oldest.decoded = None
            self._bytes -= dropped.weight
        return decoded


@dataclass(eq=False, slots=True)
class Recorded:
    """One recorded exchange ready to match: its route at once; its request and answer decoded while in use.

    ``record`` is the exchange itself, or its compressed record (``IndexedRecord``) from a cassette
    indexed for serving: a large cassette then loads without decoding answers never asked for.
    """

    index: int
    source: str
    route: Route
    record: IndexedRecord | HttpExchange | WebSocketExchange
    cache: DecodedCache
    query_string: str = ""  # the recorded request's query as sent (most requests have none)
    key: Any = None  # the match mode's key for its request, once it has one (``replayer.match_modes``)
    used: bool = False
    turns_used: set[int] = field(default_factory=set)
    # A WebSocket exchange whose connection an injected fault cut: the next connection to it
    # resumes after the turns already served (the client's retry), not from the start.
    resumes: bool = False
    decoded: Decoded | None = None  # while in the cache
    alive: weakref.ref[Decoded] | None = None  # its last decoded copy, while anything still holds it

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

    @property
    def query(self) -> dict[str, list[str]]:
        """The recorded request's query parameters (credentials left out, ``replayer.routes.query_of``)."""
        return query_of("?" + self.query_string) if self.query_string else {}

    def hold(self) -> Decoded:
        """Its decoded copy, for a holder to keep: while held, every read of the exchange finds this copy (its
        answer the same object) whatever the cache lets go."""
        return self.decoded or self.cache.decode(self)

    # Each decoded on first use (CassetteError if its record is malformed), from the copy at hand, else the cache's.

    @property
    def request(self) -> Request:
        return (self.decoded or self.cache.decode(self)).request

    @property
    def answer(self) -> Answer:
        return (self.decoded or self.cache.decode(self)).answer

    @property
    def body(self) -> Any:
        """The recorded request's JSON body, parsed on first use (a sequence-mode load parses none)."""
        return (self.decoded or self.cache.decode(self)).body

    # --- what the conversation reads again, after the answer is gone (replayer.conversation) ---

    @property
    def served(self) -> Served:
        return self.answer.served

    def request_content(self) -> bytes:
        return self.request.content


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
