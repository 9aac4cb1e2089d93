"""WebSocket lanes: several conversations on one connection, matched per lane, not by arrival order.

The Responses WebSocket lets a client tag each `response.create` with a `stream_id` (the
openai SDK's session lanes); the API answers each lane's requests in order and tags their
events with the same `stream_id`, while lanes interleave. A `response.steer` has no
`stream_id`: it runs on the lane of the response it names.

A replayed connection binds each lane the client opens to a recorded lane (the one whose
next request has the same normalized content, else the first recorded lane not yet
bound), serves each lane's recorded turns in their recorded order, and rewrites the
client's own lane name into the recorded events' `stream_id` (with the fields a response
echoes from its request, replayer.echo).

At load, ``lane_of_client_message`` and ``lane_of_server_event`` attribute each recorded frame to its lane,
so each server frame is filed under the client message it answered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import orjson

from replayer.echo import Swaps, echo_into
from replayer.turns import ServerFrame, Turn


def message_lane(body: Any) -> str | None:
    """The lane a client names in a message (`stream_id`); None for the default lane."""
    lane = body.get("stream_id") if isinstance(body, dict) else None
    return lane if isinstance(lane, str) else None


def lane_of_client_message(payload: bytes, lane_of_response: dict[str, str]) -> str | None:
    """The lane of a client message: its `stream_id`, or for a steer, the lane of the response it targets."""
    if b"stream_id" not in payload and b"response.steer" not in payload:
        return None  # the common case, decided without parsing
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("type") == "response.steer":
        previous = message.get("previous_response_id")
        return lane_of_response.get(previous) if isinstance(previous, str) else None
    lane = message.get("stream_id")
    return lane if isinstance(lane, str) else None


def lane_of_server_event(payload: bytes, lane_of_response: dict[str, str]) -> str | None:
    """The `stream_id` an event echoes; a `response.created` also ties its response id to the lane."""
    if b"stream_id" not in payload:
        return None
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    lane = event.get("stream_id") if isinstance(event, dict) else None
    if not isinstance(lane, str):
        return None
    response = event.get("response")
    if isinstance(response, dict) and isinstance(response.get("id"), str):
        lane_of_response[response["id"]] = lane
    return lane


class LaneRouter:
    """Per connection: binds client lanes to recorded lanes and picks each message's recorded turn."""

    def __init__(self, turns: list[Turn], key: Callable[[Any], bytes], served: set[int] | None = None) -> None:
        self.turns = turns
        self.key = key  # a message's normalized form, to bind a client lane to the recorded lane it resembles
        self.used: set[int] = set(served or ())  # turns served on an earlier connection cut by a fault
        self.to_recorded: dict[str | None, str | None] = {}
        self.to_client: dict[str | None, str | None] = {}
        self.lane_of_response = {turn.served.response_id: turn.lane for turn in self.turns
                                 if turn.served.response_id is not None}

    def pick(self, body: Any) -> int | None:
        """The number of the recorded turn for this message, or None when its lane has none left."""
        if isinstance(body, dict) and body.get("type") == "response.steer":
            previous = body.get("previous_response_id")
            recorded = self.lane_of_response.get(previous) if isinstance(previous, str) else None
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
        wanted = self.key(body)
        same_content = [lane for lane in free if self.key(self._next_body(lane)) == wanted]
        # Same next request first; else the lane of the same name; else the first one free.
        fallback = client if client in free else free[0]
        recorded = same_content[0] if same_content else fallback
        self.to_recorded[client] = recorded
        self.to_client[recorded] = client
        return recorded

    def _next_body(self, lane: str | None) -> Any:
        return next((turn.body for number, turn in enumerate(self.turns)
                     if turn.lane == lane and number not in self.used), None)

    def client_name(self, recorded: str | None) -> str | None:
        return self.to_client.get(recorded, recorded)


def rewrite_frames(turn: Turn, client_lane: str | None, swaps: Swaps) -> list[ServerFrame]:
    """The turn's frames with the client's lane name and echoed fields in place of the recorded ones."""
    if client_lane == turn.lane and not swaps:
        return turn.frames
    return [_rewrite(frame, turn.lane, client_lane, swaps) for frame in turn.frames]


def _rewrite(frame: ServerFrame, recorded_lane: str | None, client_lane: str | None, swaps: Swaps) -> ServerFrame:
    if not frame.is_text:
        return frame
    try:
        event = orjson.loads(frame.payload)
    except orjson.JSONDecodeError:
        return frame
    if not isinstance(event, dict):
        return frame
    changed = echo_into(event, swaps)
    if recorded_lane is not None and event.get("stream_id") == recorded_lane:
        if client_lane is None:
            del event["stream_id"]
        else:
            event["stream_id"] = client_lane
        changed = True
    return dataclasses.replace(frame, payload=orjson.dumps(event)) if changed else frame
