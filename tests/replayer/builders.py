"""Small builders of recorded exchanges for replayer tests: plain data, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rec.cassette import Close, End, Frame, Header, HttpExchange, Request, Response, WebSocketExchange, write_cassette


def sse_event(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def response_obj(response_id: str, output: list[Any] | None = None, status: str = "completed") -> dict[str, Any]:
    return {"id": response_id, "object": "response", "created_at": 1700000000, "status": status,
            "model": "gpt-test", "output": output or [], "usage": None}


def message_item(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id, "name": name,
            "arguments": arguments, "status": "completed"}


def text_events(response_id: str, text: str, deltas: int = 1) -> list[dict[str, Any]]:
    """The events of a response that answers with one assistant message, its text in ``deltas`` pieces."""
    item = message_item(f"msg_{response_id}", text)
    size = max(1, -(-len(text) // deltas))
    pieces = [text[i:i + size] for i in range(0, len(text), size)] or [""]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": response_obj(response_id, status="in_progress")},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "sequence_number": 2, "output_index": 0, "item_id": item["id"],
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    for piece in pieces:
        events.append({"type": "response.output_text.delta", "sequence_number": len(events), "output_index": 0,
                       "item_id": item["id"], "content_index": 0, "delta": piece, "logprobs": []})
    events += [
        {"type": "response.output_text.done", "sequence_number": len(events), "output_index": 0,
         "item_id": item["id"], "content_index": 0, "text": text, "logprobs": []},
        {"type": "response.output_item.done", "sequence_number": len(events) + 1, "output_index": 0, "item": item},
        {"type": "response.completed", "sequence_number": len(events) + 2,
         "response": response_obj(response_id, [item])},
    ]
    return events


def tool_call_events(response_id: str, call_id: str, name: str, arguments: str) -> list[dict[str, Any]]:
    """The events of a response that asks for one function call."""
    item = function_call_item(call_id, name, arguments)
    return [
        {"type": "response.created", "sequence_number": 0, "response": response_obj(response_id, status="in_progress")},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {**item, "arguments": "", "status": "in_progress"}},
        {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": item},
        {"type": "response.completed", "sequence_number": 3, "response": response_obj(response_id, [item])},
    ]


def user_message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def request_body(input_items: list[Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "input": input_items, "stream": True, **fields}


def sse_exchange(body: dict[str, Any] | bytes, events: list[dict[str, Any]], *, step_ms: float = 1.0,
                 path: str = "/v1/responses", end: End | None = None,
                 chunks: list[tuple[float, bytes]] | None = None, method: str = "POST") -> HttpExchange:
    """A request (a POST, unless ``method`` says) answered by an SSE stream, one chunk per event ``step_ms`` apart
    (or the given chunks)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timed = chunks if chunks is not None else [((i + 1) * step_ms, sse_event(e)) for i, e in enumerate(events)]
    return HttpExchange(
        request=Request(method=method, path=path, headers=[("content-type", "application/json")], body=raw),
        response=Response(status=200, reason="OK", headers=[("content-type", "text/event-stream"),
                                                            ("transfer-encoding", "chunked"),
                                                            ("x-request-id", "req_1")],
                          chunks=timed),
        end=end or End(at_ms=timed[-1][0] if timed else 0.0),
    )


def json_exchange(method: str, path: str, answer: Any, *, body: Any = None, status: int = 200,
                  headers: list[tuple[str, str]] | None = None) -> HttpExchange:
    raw = json.dumps(answer).encode()
    return HttpExchange(
        request=Request(method=method, path=path, body=json.dumps(body).encode() if body is not None else b""),
        response=Response(status=status, headers=[("content-type", "application/json"),
                                                  ("content-length", str(len(raw))), *(headers or [])],
                          chunks=[(2.0, raw)]),
        end=End(at_ms=2.0),
    )


def ws_exchange(turns: list[tuple[dict[str, Any], list[dict[str, Any]]]], *, deflate: bool = True,
                headers: list[tuple[str, str]] | None = None, close: Close | None = None,
                step_ms: float = 1.0) -> WebSocketExchange:
    """A WebSocket conversation: per turn the client message and the events the server answered with."""
    frames: list[Frame] = []
    at = 0.0
    for message, events in turns:
        at += 10.0
        frames.append(Frame(at, True, True, json.dumps(message).encode()))
        for i, event in enumerate(events):
            frames.append(Frame(at + (i + 1) * step_ms, False, True, json.dumps(event).encode()))
        at += len(events) * step_ms
    return WebSocketExchange(
        request=Request(method="GET", path="/v1/responses", headers=[("upgrade", "websocket")]),
        response=Response(status=101, headers=[("upgrade", "websocket"), ("connection", "Upgrade"),
                                               ("x-reasoning-included", "true"), *(headers or [])]),
        extensions=["permessage-deflate"] if deflate else [],
        frames=frames,
        close=close or Close(code=1000, by="client", at_ms=at + 5.0),
    )


def write(path: Path, exchanges: list[Any]) -> Path:
    write_cassette(path, Header(upstream="https://api.openai.com"), exchanges)
    return path
