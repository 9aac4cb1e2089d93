"""The responses a replay has served, so a request's `previous_response_id` can be followed back.

Every way a response reaches a client registers here: an SSE stream, a JSON body (a
non-streamed create, a compact), a WebSocket turn, a mounted or synthesized answer. One
conversation spans a whole replay (HTTP and every WebSocket connection), as the API's
stored responses do.

Registering is cheap: an answer's id and output are read from its recorded events only
when some later request names an id not yet known, so a replay whose client never chains
(Codex over HTTP sends the whole history) never parses a recorded answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from replayer.answers import Served
from replayer.invariants import InvariantViolation


class ServedSource(Protocol):
    """An answer (or WebSocket turn) served: its response id and output items, read on demand and cached."""

    @property
    def served(self) -> Served: ...


class Conversation:
    """Served responses by id, each with the request it answered (raw bytes, parsed when followed)."""

    def __init__(self, recorded_before: Callable[[str], bool] = lambda _id: False) -> None:
        # Whether an id was already named by a recorded request: the chain began before the recording.
        self.recorded_before = recorded_before
        # Answers served and not read yet, one place per answer (the last request it answered): a long
        # run that serves the same answers again and again stays bounded.
        self._pending: dict[int, tuple[bytes, ServedSource]] = {}
        self._responses: dict[str, tuple[bytes, Served]] = {}

    def remember(self, request: bytes, answer: ServedSource) -> None:
        """Note an answer served for a request (its JSON bytes); read only when a chain needs it."""
        self._pending[id(answer)] = (request, answer)

    def history(self, body: dict[str, Any]) -> list[Any]:
        """The items a request continues: inputs and outputs of its chain; InvariantViolation for an unknown id."""
        items: list[Any] = []
        previous = body.get("previous_response_id")
        seen: set[str] = set()
        while previous is not None:
            if not isinstance(previous, str) or previous in seen:
                raise InvariantViolation(f"previous_response_id {previous!r} is not a response id")
            seen.add(previous)
            known = self._find(previous)
            if known is None:
                if self.recorded_before(previous):
                    break  # the recorded conversation already continued this response
                raise InvariantViolation(f"previous_response_id {previous!r} names no response served earlier in "
                                         "this replay (a response the client got from rec, or one a recorded "
                                         "request already continued)")
            request, served = known
            earlier = _parse(request)
            inputs = earlier.get("input")
            items[:0] = [*(inputs if isinstance(inputs, list) else []), *served.output]
            previous = earlier.get("previous_response_id")
        return items

    def _find(self, response_id: str) -> tuple[bytes, Served] | None:
        if response_id not in self._responses:
            self._resolve()
        return self._responses.get(response_id)

    def _resolve(self) -> None:
        pending, self._pending = self._pending, {}
        for request, source in pending.values():
            served = source.served
            if served.response_id is not None:
                self._responses[served.response_id] = (request, served)


def _parse(request: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(request)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
