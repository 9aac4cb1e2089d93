"""Fields a response echoes from its request, rewritten to what this client sent.

The API copies some request fields into the response object it streams back
(`prompt_cache_key`, `safety_identifier`, `user`, `metadata`); a client may set them
differently on every run (a session id as cache key). A replayed answer carries the
recorded values, so each is swapped for the client's own, in SSE events, JSON bodies and
WebSocket frames alike. A field the client did not send is left as recorded: the
replayer never invents a `null` the client would not have seen.
"""

from __future__ import annotations

from typing import Any

import orjson

ECHOED_FIELDS = ("prompt_cache_key", "safety_identifier", "user", "metadata")

# field -> (recorded value, the client's value)
Swaps = dict[str, tuple[Any, Any]]


def echo_swaps(recorded: Any, received: Any) -> Swaps:
    """The echoed fields whose value the client sent differently from the recorded request."""
    if not isinstance(recorded, dict) or not isinstance(received, dict) or received.get("type") == "response.steer":
        return {}
    return {name: (recorded[name], received[name]) for name in ECHOED_FIELDS
            if name in recorded and name in received and received[name] != recorded[name]}


def echo_into(value: dict[str, Any], swaps: Swaps) -> bool:
    """Swap echoed fields in a response object, or in the `response` of an event; whether anything changed."""
    if not swaps:
        return False
    response = value.get("response")
    target = response if isinstance(response, dict) else value
    changed = False
    for name, (recorded, received) in swaps.items():
        if name in target and target[name] == recorded:
            target[name] = received
            changed = True
    return changed


def echo_payload(payload: bytes, swaps: Swaps) -> bytes:
    """One JSON payload (an SSE event's data, a JSON body) with the swaps applied; as is when not JSON."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if isinstance(value, dict) and echo_into(value, swaps):
        return orjson.dumps(value)
    return payload
