"""What a replay server received, with the Codex harness's request helpers ported to Python.

``RequestLog`` is filled by the server (one per server, one per mounted rule) and read by
tests: HTTP requests as ``ResponsesRequest``, WebSocket connections as lists of
``WebSocketRequest`` and their handshakes as ``WebSocketHandshake``; a `rec serve` session's
keeps the newest ``KEPT`` of each and counts the rest. Appends happen on the server's thread; readers get
copies, so a test thread can read while it serves. ``journal`` renders a log as `rec serve`
answers it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sized
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

import orjson

from rec.cassette import Headers, header_value
from rec.encoding import decode_body
from rec.redaction import DEFAULT_SECRET_HEADERS as SECRET_HEADERS  # a journal never shows them


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


# How many of each a `rec serve` session's log keeps, the newest: HTTP requests, WebSocket connections, and
# WebSocket messages (over all connections). What is older is counted (``omitted``), so a session serving for days
# holds a bounded journal. A log in a test's own process keeps everything (the test reads it).
KEPT = 1_000


class RequestLog:
    """Requests served: HTTP requests, and per WebSocket connection its handshake and messages (the newest ``kept``
    of each when given).

    Filled on the server's thread at the cost of a reference: a request is the object the server already made, a
    WebSocket message the bytes it already read. Nothing is parsed or copied until it is read.
    """

    def __init__(self, kept: int | None = None) -> None:
        self._requests: deque[ResponsesRequest] = deque(maxlen=kept)
        # (connection number, handshake), and (connection number, message as sent) over every connection.
        self._handshakes: deque[tuple[int, WebSocketHandshake]] = deque(maxlen=kept)
        self._messages: deque[tuple[int, bytes]] = deque(maxlen=kept)
        # How many were ever logged (plain counters: one addition per request on the hot path).
        self.requests_seen = self.websockets_seen = self.messages_seen = 0
        self._changed = threading.Condition()
        self._on_handshake: list[Callable[[], None]] = []  # an async waiter's wake-up (wait_for_handshakes_async)

    # --- filled by the server -------------------------------------------------------

    def add_request(self, request: ResponsesRequest) -> None:
        self._requests.append(request)
        self.requests_seen += 1

    def add_connection(self, handshake: WebSocketHandshake) -> int:
        """Log a handshake; returns the connection's number, which its messages are logged under."""
        with self._changed:
            number = self.websockets_seen
            self._handshakes.append((number, handshake))
            self.websockets_seen = number + 1
            self._changed.notify_all()
            for wake in self._on_handshake:
                wake()
        return number

    def add_message(self, connection: int, message: bytes) -> None:
        """Log a client message (JSON, as the client sent it) on the connection ``add_connection`` numbered."""
        self._messages.append((connection, message))
        self.messages_seen += 1

    # --- what was left out -----------------------------------------------------------

    def omitted(self) -> dict[str, int]:
        """How many of each were left out, the older ones past what the log keeps; only kinds with any."""
        return _omitted(self.seen(), self._requests, self.websockets())

    def seen(self) -> dict[str, int]:
        """How many of each were ever logged, kept or not."""
        return {"requests": self.requests_seen, "websockets": self.websockets_seen, "messages": self.messages_seen}

    # --- HTTP helpers ---------------------------------------------------------------

    def requests(self) -> list[ResponsesRequest]:
        return list(self._requests)

    def single_request(self) -> ResponsesRequest:
        if self.requests_seen != 1:
            raise AssertionError(f"expected 1 request, got {self.requests_seen}")
        return self.requests()[0]

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

    def websockets(self) -> list[tuple[WebSocketHandshake, list[WebSocketRequest]]]:
        """Each connection kept, its handshake and its messages kept (parsed now), in order."""
        # Copies first (each one step under the GIL): the server's thread may be logging meanwhile.
        handshakes, messages = list(self._handshakes), list(self._messages)
        by_connection: dict[int, list[WebSocketRequest]] = {number: [] for number, _ in handshakes}
        for number, message in messages:
            if number in by_connection:
                by_connection[number].append(WebSocketRequest(orjson.loads(message)))
        return [(handshake, by_connection[number]) for number, handshake in handshakes]

    def connections(self) -> list[list[WebSocketRequest]]:
        """Per connection kept (as ``handshakes()``), its messages kept."""
        return [messages for _, messages in self.websockets()]

    def single_connection(self) -> list[WebSocketRequest]:
        if self.websockets_seen != 1:
            raise AssertionError(f"expected 1 connection, got {self.websockets_seen}")
        return self.connections()[0]

    def handshakes(self) -> list[WebSocketHandshake]:
        return [handshake for _, handshake in list(self._handshakes)]

    def single_handshake(self) -> WebSocketHandshake:
        if self.websockets_seen != 1:
            raise AssertionError(f"expected 1 handshake, got {self.websockets_seen}")
        return self.handshakes()[0]

    def wait_for_handshakes(self, expected: int, timeout: float) -> bool:
        """Block until ``expected`` handshakes were seen or ``timeout`` seconds passed (server on another thread)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.websockets_seen >= expected, timeout)

    async def wait_for_handshakes_async(self, expected: int, timeout: float) -> bool:
        """As wait_for_handshakes, for a test whose server runs on the same event loop: woken by the handshake."""
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[None] = loop.create_future()

        def check() -> None:
            if self.websockets_seen >= expected and not arrived.done():
                arrived.set_result(None)

        def wake() -> None:  # on whichever thread logs the handshake
            loop.call_soon_threadsafe(check)

        with self._changed:
            self._on_handshake.append(wake)
        try:
            check()
            await asyncio.wait_for(arrived, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._changed:
                self._on_handshake.remove(wake)


def journal(log: RequestLog) -> dict[str, Any]:
    """The journal (GET /__rec/sessions/ID/requests): what the clients sent, decoded, in order, without their
    credentials, and ``omitted`` counting the older ones left out (when any). Rendered only when asked."""
    seen, requests, websockets = log.seen(), log.requests(), log.websockets()
    document: dict[str, Any] = {
        "requests": [{"method": request.method, "path": request.path(), "body": _body_shown(request),
                      "headers": _headers_shown(request.headers)} for request in requests],
        "websockets": [{"path": handshake.path, "headers": _headers_shown(handshake.headers),
                        "messages": [message.body for message in messages]} for handshake, messages in websockets]}
    omitted = _omitted(seen, requests, websockets)
    if omitted:
        document["omitted"] = omitted
    return document


def _omitted(seen: dict[str, int], requests: Sized,
             websockets: list[tuple[WebSocketHandshake, list[WebSocketRequest]]]) -> dict[str, int]:
    kept = {"requests": len(requests), "websockets": len(websockets),
            "messages": sum(len(messages) for _, messages in websockets)}
    return {kind: seen[kind] - kept[kind] for kind in kept if seen[kind] > kept[kind]}


def _body_shown(request: ResponsesRequest) -> Any:
    """The body as JSON (its Content-Encoding undone), as text when it is not JSON, None when empty; parsed here and
    not kept, so reading the journal leaves nothing behind."""
    if not request.body:
        return None
    try:
        return orjson.loads(decode_body(request.body, request.header("content-encoding")))
    except ValueError:
        return request.body.decode(errors="replace")


def _headers_shown(headers: Headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers if name.lower() not in SECRET_HEADERS}


def journal_log(journal: dict[str, Any]) -> RequestLog:
    """A RequestLog rebuilt from a `rec serve` journal (GET /__rec/sessions/ID/requests)."""
    log = RequestLog()
    for request in journal.get("requests", []):
        body = b"" if request.get("body") is None else orjson.dumps(request["body"])
        log.add_request(ResponsesRequest(request["method"], request["path"], list(request["headers"].items()), body))
    for connection in journal.get("websockets", []):
        number = log.add_connection(WebSocketHandshake(connection["path"], list(connection["headers"].items())))
        for message in connection["messages"]:
            log.add_message(number, orjson.dumps(message))
    omitted = journal.get("omitted", {})
    log.requests_seen += omitted.get("requests", 0)
    log.websockets_seen += omitted.get("websockets", 0)
    log.messages_seen += omitted.get("messages", 0)
    return log
