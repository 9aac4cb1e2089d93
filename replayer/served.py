"""What an answer tells the replay about the API's state: the response it announced and the items it produced.

Read from a JSON response object (a non-streamed create, a retrieve, a compact) or from a
stream's events (SSE, a WebSocket turn); the conversation (``replayer.conversation``)
keeps what it needs of it, only when a later request asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True)
class Served:
    """What an answer adds to a conversation: the response id it announced and its output items."""

    response_id: str | None
    output: tuple[Any, ...]


def served_from_body(body: bytes) -> Served:
    """A JSON answer that is a response object (a non-streamed create, a compact): its id and output."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Served(None, ())
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not isinstance(value.get("output"), list):
        return Served(None, ())
    return Served(value["id"], tuple(value["output"]))


def served_from_events(payloads: list[bytes]) -> Served:
    """Read the response id and output items from a stream's JSON event payloads."""
    response_id: str | None = None
    done_items: list[Any] = []
    final_output: list[Any] = []
    for payload in payloads:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        response = event.get("response")
        if isinstance(response, dict):
            if response_id is None and isinstance(response.get("id"), str):
                response_id = response["id"]
            if isinstance(response.get("output"), list) and response["output"]:
                final_output = response["output"]
        if event.get("type") == "response.output_item.done" and isinstance(event.get("item"), dict):
            done_items.append(event["item"])
    return Served(response_id, tuple(done_items or final_output))
