"""What `rec diff` compares: each exchange as a normalized *view*, and where it sits (its route).

A view is plain JSON: the request (method, path, query, headers minus volatile ones, the
body) and the response (status, headers, SSE events or body, how a cut stream ended;
WebSocket frames and the close). Ids are masked across the request and response of one
exchange together, so "this output answers that call" still compares.

Bodies are parsed as JSON at most ``MAX_JSON_DEPTH`` levels deep; a deeper one (no API
body nests so far) is compared as text, so no walk over it can exhaust the stack.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Literal

from rec.cassette import Exchange, HttpExchange, Request, Response, WebSocketExchange
from rec.normalize import Normalizer
from rec.sse import is_event_stream, split_events

Part = Literal["request", "response"]
Route = tuple[str, str, str]

MAX_JSON_DEPTH = 128


def route_of(exchange: Exchange) -> Route:
    """(kind, method, path without /v1): exchanges are aligned on it."""
    if isinstance(exchange, HttpExchange | WebSocketExchange):
        path = exchange.request.path
        path = path[3:] if path.startswith("/v1/") else path
        return exchange.kind, exchange.request.method, path
    return exchange.kind, "", ""


def exchange_route(exchange: Exchange) -> str:
    kind, method, path = route_of(exchange)
    return f"WS /v1{path}" if kind == "websocket" else f"{method} /v1{path}" if method else kind


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than ``limit`` levels, found without recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decoded(data: bytes) -> Any:
    """JSON when it parses within ``MAX_JSON_DEPTH`` levels, else text (or a byte count for binary)."""
    try:
        value = json.loads(data)
    except RecursionError:
        value = None
        too_deep = True
    except ValueError:
        too_deep = False
    else:
        # A value cannot nest deeper than it has brackets: the count spares most bodies the walk.
        too_deep = (data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH
                    and nests_deeper_than(value, MAX_JSON_DEPTH))
        if not too_deep:
            return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(data)} binary bytes>"


def request_view(request: Request, normalizer: Normalizer) -> dict[str, Any]:
    view: dict[str, Any] = {"method": request.method, "path": request.path,
                            "query": [list(p) for p in request.query],
                            "headers": [list(p) for p in normalizer.headers(request.headers)]}
    if request.content:
        view["body"] = normalizer.drop_ignored(decoded(request.content))
    return view


def response_view(response: Response | None, exchange: HttpExchange, normalizer: Normalizer) -> dict[str, Any]:
    if response is None:
        return {"error": exchange.end.error}
    view: dict[str, Any] = {"status": response.status,
                            "headers": [list(p) for p in normalizer.headers(response.headers)]}
    if is_event_stream(response.header("content-type")):
        view["events"] = [decoded(e.data.encode()) if e.data is not None else {"event": e.event}
                          for e in split_events(response.body)]
    elif response.body:
        view["body"] = decoded(response.body)
    if exchange.end.state == "error":
        view["ended"] = exchange.end.error
    return view


def frame_value(payload: bytes, is_text: bool) -> Any:
    return decoded(payload) if is_text else f"<{len(payload)} binary bytes>"


def views(exchange: Exchange, normalizer: Normalizer) -> dict[str, Any]:
    """The normalized request and response of an exchange, ids masked consistently across both."""
    if isinstance(exchange, HttpExchange):
        raw: dict[str, Any] = {"request": request_view(exchange.request, normalizer),
                               "response": response_view(exchange.response, exchange, normalizer)}
    elif isinstance(exchange, WebSocketExchange):
        raw = {"request": {**request_view(exchange.request, normalizer),
                           "frames": [normalizer.drop_ignored(frame_value(f.payload, f.is_text))
                                      for f in exchange.frames if f.from_client]},
               "response": {"status": exchange.response.status,
                            "frames": [frame_value(f.payload, f.is_text) for f in exchange.frames
                                       if not f.from_client],
                            "close": exchange.close.code if exchange.close else None}}
    else:
        raw = {"request": exchange.to_record(), "response": None}
    # Masking both parts as one document keeps <id:N> numbering shared between them.
    return normalizer.mask(raw)


def unified(a: Any, b: Any, label_a: str, label_b: str) -> str:
    before = json.dumps(a, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(b, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, label_a, label_b, lineterm=""))
