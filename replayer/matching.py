"""Which answer a request gets: mounted rules first, then the recorded exchanges of its route.

Recorded exchanges are pooled by route (``replayer.routes``) and picked by the match mode's
strategy (``replayer.match_modes``: ``sequence`` or ``body``).

A ``Rule`` is a mount: an answer (or a list served in order) for a method and a path pattern
(``/responses/{response_id}``), an optional predicate on the request, an optional use limit,
and a log of the requests it served.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from rec.cassette import Exchange, HttpExchange, IndexedRecord, WebSocketExchange
from rec.normalize import Normalizer
from replayer.answers import Answer, WebSocketAnswer
from replayer.closest import closest
from replayer.match_modes import MatchMode, MatchStrategy, strategy_for
from replayer.recorded import DecodedCache, Recorded, RoutePool, TurnMatch
from replayer.request_log import RequestLog, ResponsesRequest
from replayer.routes import PathPattern, Route, query_of, route_of, show_route


class NoMatch(Exception):
    """Nothing left to answer a request with; the message names the route and what was recorded."""


RequestPredicate = Callable[[ResponsesRequest], bool]


@dataclass
class Rule:
    """A mounted answer: served for requests on ``method path`` (a pattern) that ``predicate`` accepts.

    ``answers`` are served in order; with ``max_uses`` None the rule serves each answer
    once (``repeat`` True: the last one forever). Every request it served is in ``log``.
    """

    method: str
    path: str
    answers: list[Answer]
    predicate: RequestPredicate | None = None
    max_uses: int | None = None
    repeat: bool = False
    log: RequestLog = field(default_factory=RequestLog)
    uses: int = 0
    route: Route = field(init=False)
    pattern: PathPattern = field(init=False)

    def __post_init__(self) -> None:
        self.route = route_of(self.method, self.path)
        self.pattern = PathPattern(self.route.path)

    def serves(self, route: Route) -> bool:
        """Whether requests on this route reach the rule (its method, and a path its pattern matches)."""
        return route.method == self.route.method and self.pattern.match(route.path) is not None

    def has_uses_left(self) -> bool:
        limit = self.max_uses if self.max_uses is not None else (None if self.repeat else len(self.answers))
        return limit is None or self.uses < limit

    def accepts(self, request: ResponsesRequest) -> bool:
        return self.has_uses_left() and (self.predicate is None or self.predicate(request))

    def take(self) -> Answer:
        answer = self.answers[min(self.uses, len(self.answers) - 1)]
        self.uses += 1
        return answer


def _digest(normalized: Any) -> bytes:
    """A normalized body as a short key: the index holds one per recorded request of a route."""
    return hashlib.sha256(orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)).digest()


def _served_label(label: str, used: bool) -> str:
    return f"{label} (already served)" if used else label


class Matcher:
    """Picks answers: mounted rules in mount order, then the recorded exchanges by the match mode's strategy."""

    def __init__(self, mode: MatchMode | str = MatchMode.sequence, normalizer: Normalizer | None = None,
                 repeat: bool = False) -> None:
        self.normalizer = normalizer or Normalizer()
        self.strategy: MatchStrategy = strategy_for(mode, self.normalizer)
        self.repeat = repeat
        self.rules: list[Rule] = []
        self._fallbacks = 0  # how many rules at the end of ``rules`` are fallbacks
        self.recorded: list[Recorded] = []
        self.cache = DecodedCache()  # the recorded exchanges in use, decoded
        self._pools: dict[Route, RoutePool] = {}
        self._by_request: dict[Route, dict[bytes, Recorded]] = {}  # normalized requests, for explaining a drift
        self._lock = threading.Lock()

    @property
    def mode(self) -> MatchMode:
        return self.strategy.mode

    # --- loading ----------------------------------------------------------------------

    def add_exchanges(self, exchanges: Iterable[Exchange | IndexedRecord], source: str = "",
                      decode: bool = False) -> int:
        """Add recorded exchanges, or indexed records: decoded on first use, or with ``decode`` now (every one
        before any is added, so a malformed record raises CassetteError and adds nothing). Returns how many can
        be served."""
        records: Iterable[tuple[Exchange | IndexedRecord, int]] = (
            # Each keeps its record's size: what the cache of decoded exchanges counts it as.
            [(r.exchange(), r.size) if isinstance(r, IndexedRecord) else (r, -1) for r in exchanges] if decode
            else ((r, -1) for r in exchanges))
        added = 0
        for exchange, size in records:
            if isinstance(exchange, IndexedRecord):
                method, path = exchange.method, exchange.path
            elif isinstance(exchange, HttpExchange | WebSocketExchange):
                method, path = exchange.request.method, exchange.request.path
            else:
                continue  # a record of a type this version does not serve
            with self._lock:
                entry = Recorded(len(self.recorded), source, route_of(method, path), exchange, self.cache,
                                 query_string=path.partition("?")[2])
                if size >= 0:
                    self.cache.sizes[entry] = size
                self.recorded.append(entry)
                self._pools.setdefault(entry.route, RoutePool()).entries.append(entry)
                self.strategy.index(entry)
                added += 1
        return added

    def mount(self, rule: Rule, fallback: bool = False) -> Rule:
        """Add a rule after the other rules; a ``fallback`` rule stays behind every rule mounted later."""
        with self._lock:
            position = len(self.rules) if fallback else len(self.rules) - self._fallbacks
            self.rules.insert(position, rule)
            self._fallbacks += fallback
        return rule

    # --- matching ---------------------------------------------------------------------

    def knows(self, route: Route) -> bool:
        return route in self._pools or any(rule.serves(route) for rule in self.rules)

    def take(self, route: Route, request: ResponsesRequest, body: Any, websocket: bool = False,
             content: bytes = b"") -> tuple[Answer, Recorded | None, Rule | None, str | None]:
        """The answer for an HTTP request or a WebSocket handshake; raises NoMatch when there is none.

        The last item is a note when ``--repeat`` served an answer recorded for another request.
        """
        with self._lock:
            for rule in self.rules:
                if rule.serves(route) and rule.accepts(request):
                    return rule.take(), None, rule, None
            pool = self._pools.get(route)
            if pool is None:
                mounted = [rule for rule in self.rules if rule.serves(route)]
                left = sum(rule.has_uses_left() for rule in mounted)
                raise NoMatch(f"no mounted answer for {show_route(route)} accepted this request "
                              f"({len(mounted)} mounted, {left} with uses left)")
            strategy = self.strategy
            query = query_of(request.target)
            entry = strategy.take_handshake(pool) if websocket else strategy.take(pool, body, content, query)
            note = None
            if entry is None and self.repeat:
                entry = strategy.repeat(pool, body, query, content)
                if entry is None and pool.last is not None:
                    entry = pool.last
                    note = (f"no recorded request matches this one {strategy.miss(body, query)}; --repeat served the "
                            f"route's last answer, exchange {entry.label}")
            if entry is None:
                # Unused exchanges first: on a tie, the one the client most likely meant.
                ordered = sorted(pool.entries, key=lambda e: e.used)
                nearest = self._closest(body, ((_served_label(e.label, e.used), e.body) for e in ordered))
                raise NoMatch(f"no recorded answer {strategy.miss(body, query)} for {show_route(route)}: "
                              f"{pool.describe()}{nearest}"
                              + ("" if self.repeat else "; to reuse the last answer, pass --repeat (in pytest, "
                                                       "@pytest.mark.rec(repeat=True))"))
            return entry.answer, entry, None, note

    def take_turn(self, entry: Recorded | None, cursor: int, route: Route, message: Any) -> TurnMatch | None:
        """The recorded turn for a WebSocket client message, or None when nothing is left for it."""
        with self._lock:
            match = self.strategy.take_turn(entry, cursor, route, message)
            if match is None and entry is not None and self.repeat and isinstance(entry.answer, WebSocketAnswer):
                turns = entry.answer.turns
                if turns:
                    return TurnMatch(entry, len(turns) - 1, turns[-1])
            return match

    def give_back(self, entry: Recorded, turn: int | None = None) -> None:
        """Undo a faulted serve: the exchange (or one WebSocket turn of it) can be served again."""
        with self._lock:
            if turn is None:
                self.strategy.give_back(self._pools[entry.route], entry)
            else:
                self.strategy.give_back_turn(entry, turn)

    def reclaim(self, entry: Recorded) -> None:
        """Undo a give_back: the faulted serve delivered the whole answer after all (a stall waited out)."""
        with self._lock:
            self.strategy.reclaim(self._pools[entry.route], entry)

    # --- explaining a miss ------------------------------------------------------------

    def recorded_request_like(self, route: Route, normalized: Any, besides: Recorded) -> Recorded | None:
        """Another recorded exchange of the route whose request, normalized, is this one (an order problem)."""
        wanted = _digest(normalized)
        with self._lock:
            index = self._by_request.get(route)
            if index is None:  # built on the first drift of a route only: an error path
                index = self._by_request[route] = {}
                for entry in self._pools[route].entries if route in self._pools else []:
                    if not entry.is_websocket and entry.body is not None:
                        index.setdefault(_digest(self.normalizer.body(entry.body)), entry)
        found = index.get(wanted)
        return found if found is not besides else None

    def unknown_route_message(self, route: Route) -> str:
        known = sorted({show_route(r) for r in self._pools} | {show_route(rule.route) for rule in self.rules})
        import difflib  # only on this error path: it stays out of the start-up imports

        near = difflib.get_close_matches(show_route(route), known, n=1, cutoff=0.8)
        hint = f" (did you mean {near[0]}?)" if near else ""
        return (f"no exchange was recorded for {show_route(route)}{hint}; "
                f"recorded routes: {', '.join(known) or 'none'}")

    def turn_miss_detail(self, route: Route, entry: Recorded | None, message: Any) -> str:
        """The closest recorded WebSocket turn to a message nothing matched, as a clause for the error."""
        candidates = []
        for owner in self.strategy.turn_candidates(self._pools.get(route), entry):
            assert isinstance(owner.answer, WebSocketAnswer)
            for number, turn in enumerate(owner.answer.turns):
                label = _served_label(f"turn {number} of exchange {owner.label}", number in owner.turns_used)
                candidates.append((number in owner.turns_used, label, turn.body))
        candidates.sort(key=lambda c: c[0])
        return self._closest(message, ((label, body) for _, label, body in candidates))

    def _closest(self, body: Any, candidates: Iterable[tuple[str, Any]]) -> str:
        """``; the closest recorded request is ...`` naming where it differs, or "" without a body to compare."""
        if body is None:
            return ""
        nearest = closest(self.normalizer.body(body),
                          ((label, self.normalizer.body(recorded)) for label, recorded in candidates
                           if recorded is not None))
        if nearest is None:
            return ""
        if nearest.difference is None:
            return f"; it is the same request as {nearest.candidate} after normalization"
        return (f"; the closest recorded request is {nearest.candidate}, which differs first at "
                f"{nearest.difference.describe()}")

    def unused(self) -> list[tuple[Recorded, str]]:
        """Recorded exchanges (and WebSocket turns) never served, each with a line saying which."""
        return list(self.iter_unused())

    def iter_unused(self) -> Iterator[tuple[Recorded, str]]:
        """``unused()`` one at a time: a report keeps the first few of a million and counts the rest."""
        for entry in self.recorded:
            if not entry.used and not entry.turns_used:
                yield entry, f"exchange {entry.label} ({show_route(entry.route)}) was never requested"
            elif entry.is_websocket and isinstance(entry.answer, WebSocketAnswer):
                for number in range(len(entry.answer.turns)):
                    if number not in entry.turns_used:
                        yield entry, f"turn {number} of WebSocket exchange {entry.label} was never requested"
