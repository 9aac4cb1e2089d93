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
import hashlib
from collections import deque
from typing import Any, ClassVar

import orjson

from rec.cassette import IndexedRecord
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
    # Whether loading should hash each indexed record's request bytes (``IndexedRecord.content_hash``).
    indexes_content: ClassVar[bool] = False

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

    def repeat(self, pool: RoutePool, body: Any, query: dict[str, list[str]] | None = None,
               content: bytes = b"") -> Recorded | None:
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
    """Match by normalized request body and query; a recorded request without either (synthesized) matches any.

    Loading indexes each recorded request by a hash of its bytes only: a request sent exactly as
    recorded (most of them, in a test run) is found without decoding or normalizing anything.
    Recorded requests are normalized in recorded order, as far as a request that equals none
    of them byte for byte needs, so what a load costs does not grow with what normalizing costs.
    """

    mode = MatchMode.body
    in_connection_order = False
    indexes_content = True

    def __init__(self, normalizer: Normalizer) -> None:
        super().__init__(normalizer)
        # Normalized keys of the exchanges keyed so far (per route, the first ``_keyed[route]`` in recorded order).
        self._by_key: dict[Route, dict[bytes | None, deque[Recorded]]] = {}
        self._keyed: dict[Route, int] = {}
        self._turns: dict[Route, dict[bytes | None, deque[tuple[Recorded, int]]]] = {}
        # Recorded requests by hash() of their bytes (each checked against the request before it is served).
        self._by_raw: dict[Route, dict[int, deque[Recorded]]] = {}
        # The exchange a request got last, by its bytes' hash and by its normalized key, with when it got it:
        # --repeat answers a prompt with its own answer.
        self._last_by_raw: dict[Route, dict[int, tuple[int, Recorded]]] = {}
        self._last_by_key: dict[Route, dict[bytes | None, tuple[int, Recorded]]] = {}
        self._serves = 0

    def index(self, entry: Recorded) -> None:
        if entry.is_websocket and isinstance(entry.answer, WebSocketAnswer):
            turns = self._turns.setdefault(entry.route, {})
            for number, turn in enumerate(entry.answer.turns):
                turns.setdefault(self._key_or_none(turn.body), deque()).append((entry, number))
            entry.key = None  # a handshake has no body to match
            return
        entry.key = UNKEYED
        record = entry.record
        if isinstance(record, IndexedRecord):
            content_hash = record.content_hash
        else:
            content = record.request.content
            content_hash = hash(content) if content else None
        if content_hash is not None and not entry.query_string:
            self._by_raw.setdefault(entry.route, {}).setdefault(content_hash, deque()).append(entry)

    def take(self, pool: RoutePool, body: Any, content: bytes = b"",
             query: dict[str, list[str]] | None = None) -> Recorded | None:
        if body is None and not query:
            return super().take(pool, body)
        if not pool.entries:
            return None
        route = pool.entries[0].route
        if content and not query:
            found = self._take_raw(pool, route, content)
            if found is not None:
                self._last_by_raw.setdefault(route, {})[hash(content)] = (self._serve(), found)
                return found
        key = self._request_key(body, query)
        found = self._take_key(pool, route, key) or self._take_key(pool, route, None)
        if found is not None:
            self._last_by_key.setdefault(route, {})[key] = (self._serve(), found)
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

    def repeat(self, pool: RoutePool, body: Any, query: dict[str, list[str]] | None = None,
               content: bytes = b"") -> Recorded | None:
        if body is None and not query:
            return super().repeat(pool, body)
        if not pool.entries:
            return None
        route = pool.entries[0].route
        by_raw = self._last_by_raw.get(route, {}).get(hash(content)) if content and not query else None
        by_key = self._last_by_key.get(route, {}).get(self._request_key(body, query))
        latest = max((found for found in (by_raw, by_key) if found is not None), default=None, key=lambda f: f[0])
        return latest[1] if latest is not None else None

    def give_back(self, pool: RoutePool, entry: Recorded) -> None:
        super().give_back(pool, entry)
        if entry.key is not UNKEYED:  # an exchange not keyed yet is found when the keying reaches it
            self._by_key.setdefault(entry.route, {}).setdefault(entry.key, deque()).appendleft(entry)
        raw = self._raw_queue(entry)
        if raw is not None:
            raw.appendleft(entry)

    def reclaim(self, pool: RoutePool, entry: Recorded) -> None:
        if not entry.used:
            for queue in (self._by_key.get(entry.route, {}).get(entry.key), self._raw_queue(entry)):
                if queue is not None and entry in queue:
                    queue.remove(entry)
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

    def _serve(self) -> int:
        self._serves += 1
        return self._serves

    def _take_raw(self, pool: RoutePool, route: Route, content: bytes) -> Recorded | None:
        """The first unused exchange recorded with exactly these request bytes."""
        queue = self._by_raw.get(route, {}).get(hash(content))
        while queue and queue[0].used:
            queue.popleft()
        for entry in queue or ():
            if not entry.used and entry.request.content == content:  # a hash is not proof
                queue.remove(entry)  # type: ignore[union-attr]  # the loop ran: queue is a deque
                return pool.use(entry)
        return None

    def _take_key(self, pool: RoutePool, route: Route, key: bytes | None) -> Recorded | None:
        """The first unused exchange whose request has this key, keying more of the route's exchanges if needed."""
        keyed = self._by_key.setdefault(route, {})
        queue = keyed.get(key)
        while queue:
            entry = queue.popleft()
            if not entry.used:
                return pool.use(entry)
        # None among those keyed so far: key the next ones, in recorded order, until one has this key.
        cursor = self._keyed.get(route, 0)
        try:
            while cursor < len(pool.entries):
                entry = pool.entries[cursor]
                cursor += 1
                if entry.key is UNKEYED:
                    entry.key = self._request_key(entry.body, entry.query)
                if entry.used:
                    continue  # a give_back puts it back in line
                if entry.key == key:
                    return pool.use(entry)
                keyed.setdefault(entry.key, deque()).append(entry)
            return None
        finally:
            self._keyed[route] = cursor

    def _raw_queue(self, entry: Recorded) -> deque[Recorded] | None:
        """Where an exchange given back waits to be found by its request's bytes (None: it is not indexed so)."""
        if entry.key is None or entry.query_string or entry.is_websocket:
            return None
        content = entry.request.content
        return self._by_raw.setdefault(entry.route, {}).setdefault(hash(content), deque()) if content else None

    def _key_or_none(self, body: Any) -> bytes | None:
        return self.key(body) if body is not None else None

    def _request_key(self, body: Any, query: dict[str, list[str]] | None) -> bytes | None:
        """An HTTP request's normalized body and query as one key (a digest: a long replay keeps thousands);
        None for a request with neither."""
        if not query:
            key = self._key_or_none(body)
        else:
            key = (self.key(body) if body is not None else b"") + b"?" + self.key(query)
        return hashlib.sha256(key).digest() if key is not None else None


# An exchange whose request's key is not computed yet (``BodyMode`` keys them as requests need it).
UNKEYED = object()


def _websockets(pool: RoutePool | None) -> list[Recorded]:
    return [entry for entry in (pool.entries if pool else []) if isinstance(entry.answer, WebSocketAnswer)]


STRATEGIES: dict[MatchMode, type[MatchStrategy]] = {MatchMode.sequence: MatchStrategy, MatchMode.body: BodyMode}


def strategy_for(mode: MatchMode | str, normalizer: Normalizer) -> MatchStrategy:
    """The strategy for a mode (a string is parsed: a typo is a ValueError naming it)."""
    return STRATEGIES[MatchMode.parse(mode)](normalizer)
