"""WebSocket lanes: several conversations on one connection, matched per lane, not by arrival order.

The Responses WebSocket lets a client tag each `response.create` with a `stream_id` (the
openai SDK's session lanes); the API answers each lane's requests in order and tags their
events with the same `stream_id`, while lanes interleave. A `response.steer` has no
`stream_id`: it runs on the lane of the response it names.

A replayed connection binds each lane the client opens to a recorded lane (the one whose
next request has the same normalized content, else the first recorded lane not yet
bound), serves each lane's recorded turns in their recorded order, and rewrites the
client's own names into the recorded events: the `stream_id`, and the request fields a
response echoes (`prompt_cache_key`, `safety_identifier`, `user`, `metadata`).
"""

from __future__ import annotations

from typing import Any

import orjson

from rec.normalize import Normalizer
from replayer.answers import ServerFrame, Turn, WebSocketAnswer
from replayer.matching import normalized_key

# Request fields a response object echoes back, which a client may set differently per run.
ECHOED_FIELDS = ("prompt_cache_key", "safety_identifier", "user", "metadata")


def message_lane(body: Any) -> str | None:
    """The lane a client names in a message (`stream_id`); None for the default lane."""
    lane = body.get("stream_id") if isinstance(body, dict) else None
    return lane if isinstance(lane, str) else None


class LaneRouter:
    """Per connection: binds client lanes to recorded lanes and picks each message's recorded turn."""

    def __init__(self, answer: WebSocketAnswer, normalizer: Normalizer, served: set[int] | None = None) -> None:
        self.turns = answer.turns
        self.normalizer = normalizer
        self.used: set[int] = set(served or ())  # turns served on an earlier connection cut by a fault
        self.to_recorded: dict[str | None, str | None] = {}
        self.to_client: dict[str | None, str | None] = {}
        self.lane_of_response = {turn.served.response_id: turn.lane for turn in self.turns
                                 if turn.served.response_id is not None}

    def pick(self, body: Any) -> int | None:
        """The number of the recorded turn for this message, or None when its lane has none left."""
        if isinstance(body, dict) and body.get("type") == "response.steer":
            recorded = self.lane_of_response.get(body.get("previous_response_id"))  # type: ignore[arg-type]
        else:
            client = message_lane(body)
            recorded = self.to_recorded[client] if client in self.to_recorded else self._bind(client, body)
        for number, turn in enumerate(self.turns):
            if number not in self.used and turn.lane == recorded:
                self.used.add(number)
                return number
        return None

    def give_back(self, number: int) -> None:
        self.used.discard(number)

    def _bind(self, client: str | None, body: Any) -> str | None:
        bound = set(self.to_client)
        free: list[str | None] = []
        for turn in self.turns:
            if turn.lane not in bound and turn.lane not in free:
                free.append(turn.lane)
        if not free:
            return client  # nothing left to bind: the pick finds no turn and says so
        wanted = self._key(body)
        same_content = [lane for lane in free if self._key(self._next_body(lane)) == wanted]
        # Same next request first; else the lane of the same name; else the first one free.
        fallback = client if client in free else free[0]
        recorded = same_content[0] if same_content else fallback
        self.to_recorded[client] = recorded
        self.to_client[recorded] = client
        return recorded

    def _next_body(self, lane: str | None) -> Any:
        return next((turn.body for number, turn in enumerate(self.turns)
                     if turn.lane == lane and number not in self.used), None)

    def _key(self, body: Any) -> bytes:
        return normalized_key(body, self.normalizer)

    def client_lane(self, recorded: str | None) -> str | None:
        return self.to_client.get(recorded, recorded)


def rewrite_frames(turn: Turn, body: Any, client_lane: str | None) -> list[ServerFrame]:
    """The turn's frames with the client's lane name and echoed fields in place of the recorded ones."""
    swaps: dict[str, tuple[Any, Any]] = {}
    recorded_body = turn.body if isinstance(turn.body, dict) else {}
    if isinstance(body, dict) and body.get("type") != "response.steer":
        for name in ECHOED_FIELDS:
            if name in recorded_body and body.get(name) != recorded_body[name]:
                swaps[name] = (recorded_body[name], body.get(name))
    if client_lane == turn.lane and not swaps:
        return turn.frames
    return [_rewrite(frame, turn.lane, client_lane, swaps) for frame in turn.frames]


def _rewrite(frame: ServerFrame, recorded_lane: str | None, client_lane: str | None,
             swaps: dict[str, tuple[Any, Any]]) -> ServerFrame:
    if not frame.is_text:
        return frame
    try:
        event = orjson.loads(frame.payload)
    except orjson.JSONDecodeError:
        return frame
    if not isinstance(event, dict):
        return frame
    changed = False
    if recorded_lane is not None and event.get("stream_id") == recorded_lane:
        if client_lane is None:
            del event["stream_id"]
        else:
            event["stream_id"] = client_lane
        changed = True
    response = event.get("response")
    if isinstance(response, dict):
        for name, (recorded, received) in swaps.items():
            if name in response and response[name] == recorded:
                response[name] = received
                changed = True
    return ServerFrame(frame.at_ms, True, orjson.dumps(event)) if changed else frame
