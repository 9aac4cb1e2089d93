"""Match modes: how a request picks one of the recorded exchanges of its route, one strategy per mode.

- ``sequence``: per route, the Nth request gets the Nth recorded answer; per WebSocket
  connection, the Nth message gets the Nth recorded turn (by lane when the recording used
  lanes), and the recorded close follows the last turn.
- ``body``: the first unused exchange whose request body, normalized, equals the request's,
  so concurrent clients get their own answers whatever order they arrive in; WebSocket turns
  are pooled across the recorded connections of a route and matched by message the same way.

A strategy takes an exchange, takes a WebSocket turn, gives either back (a faulted serve the
client will retry), finds what ``--repeat`` may serve again, and says why nothing matched.
To add a mode: a member of ``MatchMode`` and a ``MatchStrategy`` subclass in ``STRATEGIES``.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any, ClassVar

import orjson

from rec.normalize import Normalizer
from replayer.answers import WebSocketAnswer
from replayer.recorded import Recorded, RoutePool, TurnMatch
from replayer.routes import Route


class MatchMode(enum.StrEnum):
    """How recorded exchanges are picked for a request; ``MatchMode.parse`` refuses anything else."""

    sequence = "sequence"
    body = "body"

    @classmethod
    def parse(cls, value: str) -> MatchMode:
        """The mode named ``value``; ValueError naming it and the choices otherwise (for every entry point)."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown match mode {value!r}: use {' or '.join(m.value for m in cls)}") from None


def normalized_key(value: Any, normalizer: Normalizer) -> bytes:
    """A JSON value's normalized form as canonical bytes, for equality and dict lookup."""
    return orjson.dumps(normalizer.body(value), option=orjson.OPT_SORT_KEYS)


class MatchStrategy:
    """The sequence strategy, and the base every mode builds on."""

    mode: ClassVar[MatchMode] = MatchMode.sequence
    # Whether a WebSocket connection replays its recorded connection turn by turn (cursor,
    # lanes, the recorded close after the last turn, resuming after a cut).
    in_connection_order: ClassVar[bool] = True

    def __init__(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer

    def key(self, value: Any) -> bytes:
        return normalized_key(value, self.normalizer)

    def index(self, entry: Recorded) -> None:
        """Prepare a newly loaded exchange for matching."""

    def take(self, pool: RoutePool, body: Any, content: bytes = b"",
             query: dict[str, list[str]] | None = None) -> Recorded | None:
        """The exchange for an HTTP request (``body`` parsed, ``content`` its bytes, ``query`` its parameters),
        marked used; None if none left."""
        while pool.next < len(pool.entries):
            entry = pool.entries[pool.next]
            pool.next += 1
            if not entry.used:
                return pool.use(entry)
        return None

    def take_handshake(self, pool: RoutePool) -> Recorded | None:
        """The exchange for a WebSocket upgrade."""
        return MatchStrategy.take(self, pool, None)

    def take_turn(self, entry: Recorded | None, cursor: int, route: Route, message: Any) -> TurnMatch | None:
        """The recorded turn for a WebSocket client message: the connection's next one."""
        turns = entry.answer.turns if entry is not None and isinstance(entry.answer, WebSocketAnswer) else []
        if entry is None or cursor >= len(turns):
            return None
        entry.turns_used.add(cursor)
        return TurnMatch(entry, cursor, turns[cursor])

    def repeat(self, pool: RoutePool, body: Any, query: dict[str, list[str]] | None = None) -> Recorded | None:
        """What ``--repeat`` serves again once nothing is left: the route's last answer."""
        return pool.last

    def give_back(self, pool: RoutePool, entry: Recorded) -> None:
        """Make a served exchange available again, first in line."""
        entry.used = False
        pool.next = min(pool.next, pool.entries.index(entry))

    def reclaim(self, pool: RoutePool, entry: Recorded) -> None:
        """Mark a given-back exchange used again, unless another request took it meanwhile."""
        if not entry.used:
            pool.use(entry)

    def give_back_turn(self, entry: Recorded, number: int) -> None:
        entry.turns_used.discard(number)

    def miss(self, body: Any, query: dict[str, list[str]] | None = None) -> str:
        """How the request was looked for, as in "no recorded answer {miss} for ..."."""
        return "left"

    def turn_miss(self, recorded: int) -> str:
        return f"after {recorded} turn(s)"

    def turn_candidates(self, pool: RoutePool | None, entry: Recorded | None) -> list[Recorded]:
        """The recorded connections whose turns a missed message is compared with."""
        return [entry] if entry is not None else _websockets(pool)


class BodyMode(MatchStrategy):
    """Match by normalized request body and query; a recorded request without either (synthesized) matches any."""

    mode = MatchMode.body
    in_connection_order = False

    def __init__(self, normalizer: Normalizer) -> None:
        super().__init__(normalizer)
        self._by_key: dict[Route, dict[bytes | None, deque[Recorded]]] = {}
        self._turns: dict[Route, dict[bytes | None, deque[tuple[Recorded, int]]]] = {}
        # The exchange each normalized body got last, so --repeat answers a prompt with its own answer.
        self._last_by_key: dict[Route, dict[bytes | None, Recorded]] = {}
        # Recorded request bytes, for requests sent exactly as recorded (most of them, in a test run).
        self._by_raw: dict[Route, dict[bytes, deque[Recorded]]] = {}

    def index(self, entry: Recorded) -> None:
        answer = entry.answer
        if isinstance(answer, WebSocketAnswer):
            turns = self._turns.setdefault(entry.route, {})
            for number, turn in enumerate(answer.turns):
                turns.setdefault(self._key_or_none(turn.body), deque()).append((entry, number))
        else:
            entry.key = self._request_key(entry.body, entry.query)  # once, at load
            if entry.key is not None and not entry.query_string:
                self._by_raw.setdefault(entry.route, {}).setdefault(entry.request.content, deque()).append(entry)
        self._by_key.setdefault(entry.route, {}).setdefault(entry.key, deque()).append(entry)

    def take(self, pool: RoutePool, body: Any, content: bytes = b"",
             query: dict[str, list[str]] | None = None) -> Recorded | None:
        if body is None and not query:
            return super().take(pool, body)
        # The fast path: a request byte for byte as recorded needs no normalizing.
        raw = content and not query and pool.entries
        queue = self._by_raw.get(pool.entries[0].route, {}).get(content) if raw else None
        while queue:
            entry = queue.popleft()
            if not entry.used:
                self._last_by_key.setdefault(entry.route, {})[entry.key] = entry
                return pool.use(entry)
        key = self._request_key(body, query)
        found = self._take_key(pool, key) or self._take_key(pool, None)
        if found is not None:
            self._last_by_key.setdefault(found.route, {})[key] = found
        return found

    def take_handshake(self, pool: RoutePool) -> Recorded | None:
        # Turns are matched across connections, so any recorded handshake will do.
        websockets = _websockets(pool)
        return super().take(pool, None) or (websockets[0] if websockets else None)

    def take_turn(self, entry: Recorded | None, cursor: int, route: Route, message: Any) -> TurnMatch | None:
        if message is None:
            return super().take_turn(entry, cursor, route, message)
        turns_by_key = self._turns.get(route, {})
        for key in (self.key(message), None):
            queue = turns_by_key.get(key)
            while queue:
                owner, number = queue.popleft()
                if number not in owner.turns_used:
                    owner.turns_used.add(number)
                    assert isinstance(owner.answer, WebSocketAnswer)
                    return TurnMatch(owner, number, owner.answer.turns[number])
        return None

    def repeat(self, pool: RoutePool, body: Any, query: dict[str, list[str]] | None = None) -> Recorded | None:
        if body is None and not query:
            return super().repeat(pool, body)
        key = self._request_key(body, query)
        return self._last_by_key.get(pool.entries[0].route, {}).get(key) if pool.entries else None

    def give_back(self, pool: RoutePool, entry: Recorded) -> None:
        super().give_back(pool, entry)
        self._by_key[entry.route].setdefault(entry.key, deque()).appendleft(entry)
        if entry.key is not None and not entry.query_string:
            self._by_raw.setdefault(entry.route, {}).setdefault(entry.request.content, deque()).appendleft(entry)

    def reclaim(self, pool: RoutePool, entry: Recorded) -> None:
        if not entry.used:
            self._by_key[entry.route][entry.key].remove(entry)
            raw = self._by_raw.get(entry.route, {}).get(entry.request.content)
            if raw and entry in raw:
                raw.remove(entry)
        super().reclaim(pool, entry)

    def give_back_turn(self, entry: Recorded, number: int) -> None:
        super().give_back_turn(entry, number)
        assert isinstance(entry.answer, WebSocketAnswer)
        key = self._key_or_none(entry.answer.turns[number].body)
        self._turns[entry.route].setdefault(key, deque()).appendleft((entry, number))

    def miss(self, body: Any, query: dict[str, list[str]] | None = None) -> str:
        asked = [what for what, given in (("body", body is not None), ("query", bool(query))) if given]
        return f"with this normalized {' and '.join(asked)}" if asked else "left"

    def turn_miss(self, recorded: int) -> str:
        return "with this normalized message"

    def turn_candidates(self, pool: RoutePool | None, entry: Recorded | None) -> list[Recorded]:
        return _websockets(pool)

    def _take_key(self, pool: RoutePool, key: bytes | None) -> Recorded | None:
        queue = self._by_key.get(pool.entries[0].route, {}).get(key) if pool.entries else None
        while queue:
            entry = queue.popleft()
            if not entry.used:
                return pool.use(entry)
        return None

    def _key_or_none(self, body: Any) -> bytes | None:
        return self.key(body) if body is not None else None

    def _request_key(self, body: Any, query: dict[str, list[str]] | None) -> bytes | None:
        """An HTTP request's normalized body and query as one key; None for a request with neither."""
        if not query:
            return self._key_or_none(body)
        return (self.key(body) if body is not None else b"") + b"?" + self.key(query)


def _websockets(pool: RoutePool | None) -> list[Recorded]:
    return [entry for entry in (pool.entries if pool else []) if isinstance(entry.answer, WebSocketAnswer)]


STRATEGIES: dict[MatchMode, type[MatchStrategy]] = {MatchMode.sequence: MatchStrategy, MatchMode.body: BodyMode}


def strategy_for(mode: MatchMode | str, normalizer: Normalizer) -> MatchStrategy:
    """The strategy for a mode (a string is parsed: a typo is a ValueError naming it)."""
    return STRATEGIES[MatchMode.parse(mode)](normalizer)
