"""What a replay server received, with the Codex harness's request helpers ported to Python.

``RequestLog`` is filled by the server (one per server, one per mounted rule) and read by
tests: HTTP requests as ``ResponsesRequest``, WebSocket connections as lists of
``WebSocketRequest`` and their handshakes as ``WebSocketHandshake``. Appends happen on
the server's thread; readers get copies, so a test thread can read while it serves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

import orjson

from rec.cassette import Headers, header_value
from rec.encoding import decode_body


def _texts_of(items: list[Any], role: str, span_type: str, key: str) -> list[str]:
    found: list[str] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "message" or item.get("role") != role:
            continue
        content = item.get("content")
        if not isinstance(content, list):
            continue
        for span in content:
            if isinstance(span, dict) and span.get("type") == span_type and isinstance(span.get(key), str):
                found.append(span[key])
    return found


def _content_and_success(item: dict[str, Any]) -> tuple[str | None, bool | None]:
    output = item.get("output")
    if isinstance(output, str):
        return output, None
    if isinstance(output, dict):
        content = output.get("content")
        success = output.get("success")
        return (content if isinstance(content, str) else None, success if isinstance(success, bool) else None)
    return None, None


@dataclass
class ResponsesRequest:
    """One HTTP request as the server received it (``body`` is the raw, possibly encoded, bytes)."""

    method: str
    target: str
    headers: Headers
    body: bytes

    def body_bytes(self) -> bytes:
        return self.body

    @cached_property
    def _json(self) -> Any:
        return orjson.loads(decode_body(self.body, self.header("content-encoding")))

    def body_json(self) -> Any:
        """The body as JSON, after undoing its Content-Encoding (zstd, gzip, ...)."""
        return self._json

    def body_contains_text(self, text: str) -> bool:
        """True when ``text``, JSON-escaped, occurs in the body's JSON."""
        fragment = orjson.dumps(text).decode()[1:-1]
        return fragment in orjson.dumps(self.body_json()).decode()

    def instructions_text(self) -> str:
        instructions = self.body_json().get("instructions")
        if not isinstance(instructions, str):
            raise AssertionError("request has no string `instructions`")
        return instructions

    def message_input_texts(self, role: str) -> list[str]:
        """Every `input_text` span of the `message` inputs with this role."""
        return _texts_of(self.input(), role, "input_text", "text")

    def message_input_image_urls(self, role: str) -> list[str]:
        """Every `input_image` `image_url` of the `message` inputs with this role."""
        return _texts_of(self.input(), role, "input_image", "image_url")

    def input(self) -> list[Any]:
        items = self.body_json().get("input")
        if not isinstance(items, list):
            raise AssertionError("input array not found in request")
        return items

    def inputs_of_type(self, kind: str) -> list[Any]:
        return [item for item in self.input() if isinstance(item, dict) and item.get("type") == kind]

    def function_call_output(self, call_id: str) -> dict[str, Any]:
        return self.call_output(call_id, "function_call_output")

    def custom_tool_call_output(self, call_id: str) -> dict[str, Any]:
        return self.call_output(call_id, "custom_tool_call_output")

    def call_output(self, call_id: str, call_type: str) -> dict[str, Any]:
        """The input item of type ``call_type`` answering ``call_id``; AssertionError when absent."""
        for item in self.inputs_of_type(call_type):
            if item.get("call_id") == call_id:
                return item
        raise AssertionError(f"{call_type} {call_id} item not found in request")

    def has_function_call(self, call_id: str) -> bool:
        return any(item.get("call_id") == call_id for item in self.inputs_of_type("function_call"))

    def function_call_output_text(self, call_id: str) -> str | None:
        """The string `output` of the `function_call_output` for ``call_id``, if there is one."""
        for item in self.inputs_of_type("function_call_output"):
            if item.get("call_id") == call_id:
                output = item.get("output")
                return output if isinstance(output, str) else None
        return None

    def function_call_output_content_and_success(self, call_id: str) -> tuple[str | None, bool | None]:
        return _content_and_success(self.call_output(call_id, "function_call_output"))

    def custom_tool_call_output_content_and_success(self, call_id: str) -> tuple[str | None, bool | None]:
        return _content_and_success(self.call_output(call_id, "custom_tool_call_output"))

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def path(self) -> str:
        return self.target.partition("?")[0]

    def query_param(self, name: str) -> str | None:
        for key, value in parse_qsl(self.target.partition("?")[2], keep_blank_values=True):
            if key == name:
                return value
        return None


@dataclass
class WebSocketRequest:
    """One client message on a WebSocket, parsed as JSON."""

    body: Any

    def body_json(self) -> Any:
        return self.body


@dataclass
class WebSocketHandshake:
    """The headers of one WebSocket upgrade request."""

    path: str
    headers: Headers

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass
class RequestLog:
    """Requests served: HTTP requests, and per WebSocket connection its handshake and messages."""

    _requests: list[ResponsesRequest] = field(default_factory=list)
    _connections: list[list[WebSocketRequest]] = field(default_factory=list)
    _handshakes: list[WebSocketHandshake] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    # --- filled by the server -------------------------------------------------------

    def add_request(self, request: ResponsesRequest) -> None:
        self._requests.append(request)

    def add_connection(self, handshake: WebSocketHandshake) -> list[WebSocketRequest]:
        """Log a handshake; returns the list the connection's messages are appended to."""
        messages: list[WebSocketRequest] = []
        with self._changed:
            self._connections.append(messages)
            self._handshakes.append(handshake)
            self._changed.notify_all()
        return messages

    # --- HTTP helpers ---------------------------------------------------------------

    def requests(self) -> list[ResponsesRequest]:
        return list(self._requests)

    def single_request(self) -> ResponsesRequest:
        requests = self.requests()
        if len(requests) != 1:
            raise AssertionError(f"expected 1 request, got {len(requests)}")
        return requests[0]

    def last_request(self) -> ResponsesRequest | None:
        requests = self.requests()
        return requests[-1] if requests else None

    def saw_function_call(self, call_id: str) -> bool:
        """True when any request's input holds a `function_call` with this call id."""
        return any(request.has_function_call(call_id) for request in self.requests())

    def function_call_output_text(self, call_id: str) -> str | None:
        """The `output` string for ``call_id`` from the first request that carries one."""
        for request in self.requests():
            text = request.function_call_output_text(call_id)
            if text is not None:
                return text
        return None

    # --- WebSocket helpers ----------------------------------------------------------

    def connections(self) -> list[list[WebSocketRequest]]:
        return [list(messages) for messages in self._connections]

    def single_connection(self) -> list[WebSocketRequest]:
        connections = self.connections()
        if len(connections) != 1:
            raise AssertionError(f"expected 1 connection, got {len(connections)}")
        return connections[0]

    def handshakes(self) -> list[WebSocketHandshake]:
        return list(self._handshakes)

    def single_handshake(self) -> WebSocketHandshake:
        handshakes = self.handshakes()
        if len(handshakes) != 1:
            raise AssertionError(f"expected 1 handshake, got {len(handshakes)}")
        return handshakes[0]

    def wait_for_handshakes(self, expected: int, timeout: float) -> bool:
        """Block until ``expected`` handshakes were seen or ``timeout`` seconds passed (server on another thread)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._handshakes) >= expected, timeout)

    async def wait_for_handshakes_async(self, expected: int, timeout: float) -> bool:
        """As wait_for_handshakes, for a test whose server runs on the same event loop."""
        deadline = time.monotonic() + timeout
        while len(self._handshakes) < expected:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def journal_log(journal: dict[str, Any]) -> RequestLog:
    """A RequestLog rebuilt from a `rec serve` journal (GET /__rec/sessions/ID/requests)."""
    log = RequestLog()
    for request in journal.get("requests", []):
        body = b"" if request.get("body") is None else orjson.dumps(request["body"])
        log.add_request(ResponsesRequest(request["method"], request["path"], list(request["headers"].items()), body))
    for connection in journal.get("websockets", []):
        messages = log.add_connection(WebSocketHandshake(connection["path"], list(connection["headers"].items())))
        messages.extend(WebSocketRequest(message) for message in connection["messages"])
    return log
