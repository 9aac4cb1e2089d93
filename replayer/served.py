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
    """What an answer shows of the API's state.

    ``response_id`` and ``output``: the response it announced and the items that response
    produced (so far); ``conversation_id``: the conversation it belongs to, or the one it
    created. A list of conversation items is ``output`` with no response.
    """

    response_id: str | None
    output: tuple[Any, ...]
    conversation_id: str | None = None


NOTHING = Served(None, ())


def _conversation_of(value: dict[str, Any]) -> str | None:
    """The conversation a response object belongs to: ``"conversation": {"id": ...}`` (or the bare id)."""
    conversation = value.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    return conversation if isinstance(conversation, str) else None


def served_from_body(body: bytes) -> Served:
    """A JSON answer: a response object (a create, a retrieve, a cancel, a compact), a conversation, or a list
    of conversation items."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return NOTHING
    if not isinstance(value, dict):
        return NOTHING
    identifier = value.get("id") if isinstance(value.get("id"), str) else None
    if value.get("object") == "conversation":
        return Served(None, (), identifier)
    if value.get("object") == "list" and isinstance(value.get("data"), list):
        return Served(None, tuple(value["data"]))
    if identifier is None or not isinstance(value.get("output"), list):
        return NOTHING
    return Served(identifier, tuple(value["output"]), _conversation_of(value))


def served_from_events(payloads: list[bytes]) -> Served:
    """Read the response id and output items from a stream's JSON event payloads."""
    response_id: str | None = None
    conversation_id: str | None = None
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
            conversation_id = conversation_id or _conversation_of(response)
            if isinstance(response.get("output"), list) and response["output"]:
                final_output = response["output"]
        if event.get("type") == "response.output_item.done" and isinstance(event.get("item"), dict):
            done_items.append(event["item"])
    # A resumed stream holds only the items done after its cursor, and its terminal event lists them all.
    output = done_items + [item for item in final_output if item not in done_items]
    return Served(response_id, tuple(output), conversation_id)
