"""A recorded WebSocket conversation cut into turns: each client message and the server frames that answered it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from replayer.served import Served, served_from_events


@dataclass
class ServerFrame:
    """A frame the server sends, ``at_ms`` after the client message it answers."""

    at_ms: float
    is_text: bool
    payload: bytes


@dataclass
class Turn:
    """One client message of a recorded WebSocket conversation and the server frames that answered it.

    ``lane`` is the `stream_id` the message ran on (a `response.steer` runs on the lane of
    the response it steers); None is the connection's default lane.
    """

    message: bytes | None
    frames: list[ServerFrame]
    at_ms: float = 0.0
    lane: str | None = None

    @cached_property
    def body(self) -> Any:
        """The client message as JSON, or None when it was not JSON."""
        if self.message is None:
            return None
        try:
            return orjson.loads(self.message)
        except orjson.JSONDecodeError:
            return None

    @cached_property
    def served(self) -> Served:
        return served_from_events([frame.payload for frame in self.frames if frame.is_text])
