"""The Codex test harness's mock API, on rec's replay server.

Each ``mount_*`` adds a rule to a running server and returns a mock whose log holds
the requests it served; every request is checked against the Responses invariants.
``MockServer.verify()`` (also run when the server closes) fails the test when a
request broke an invariant or matched nothing, or a sequence was not used exactly::

    with start_mock_server() as server:
        mock = mount_sse_once(server, sse([ev_response_created("r1"), ev_completed("r1")]))
        OpenAI(base_url=server.url, api_key="k").responses.create(model="m", input="hi", stream=True)
        assert mock.single_request().path() == "/v1/responses"

Matchers are plain predicates on a ``ResponsesRequest`` (``body_contains``,
``header_is``, ``path_matches``, or any function).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rec.cassette import Close, HttpExchange, Request, Response
from replayer.answers import HttpAnswer, WebSocketAnswer, compile_exchange, json_answer
from replayer.matching import Rule
from replayer.outcome import MOUNTS, event_line
from replayer.request_log import RequestLog, ResponsesRequest
from replayer.server import ReplayServer
from replayer.turns import ServerFrame, Turn

RequestMatcher = Callable[[ResponsesRequest], bool]
RESPONSES = ("POST", "/responses")
COMPACT = ("POST", "/responses/compact")
MODELS = ("GET", "/models")


# --- matchers --------------------------------------------------------------------------


def body_contains(text: str) -> RequestMatcher:
    """The request body (decoded) contains ``text``, as JSON text would carry it."""
    return lambda request: request.body_contains_text(text)


def header_is(name: str, value: str) -> RequestMatcher:
    return lambda request: request.header(name) == value


def path_matches(pattern: str) -> RequestMatcher:
    compiled = re.compile(pattern)
    return lambda request: compiled.search(request.path()) is not None


# --- responses -------------------------------------------------------------------------


class _Delayed(HttpAnswer):
    """An answer sent after a delay, whatever the server's timing (wiremock's set_delay)."""

    def __init__(self, inner: HttpAnswer, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.status = inner.status

    @property
    def served(self) -> Any:
        return self.inner.served

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        await asyncio.sleep(self.delay_s)
        if self.inner.immediate is not None:
            transport.write(self.inner.immediate)
            return True
        return await self.inner.send(transport, pace, start)


@dataclass
class ResponseTemplate:
    """A response to mount: status, headers, a body (text, bytes, or JSON), an optional delay."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | bytes | None = None
    json_body: Any = None
    delay_s: float = 0.0

    def answer(self) -> HttpAnswer:
        if self.json_body is not None:
            answer: HttpAnswer = json_answer(self.json_body, self.status, self.headers)
        else:
            data = self.body.encode() if isinstance(self.body, str) else (self.body or b"")
            headers = list(self.headers)
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.insert(0, ("content-type", "text/event-stream"))
            compiled = compile_exchange(HttpExchange(Request("", ""), Response(self.status, headers=headers,
                                                                                chunks=[(0.0, data)])))
            assert isinstance(compiled, HttpAnswer)
            answer = compiled
        return _Delayed(answer, self.delay_s) if self.delay_s else answer


def sse_response(body: str) -> ResponseTemplate:
    """An SSE answer (the harness's sse_response)."""
    return ResponseTemplate(body=body)


# --- the server and its mocks ----------------------------------------------------------


@dataclass
class ResponseMock:
    """The requests one mount served, with the harness's helpers."""

    rule: Rule
    expected: int | None = None

    @property
    def log(self) -> RequestLog:
        return self.rule.log

    def requests(self) -> list[ResponsesRequest]:
        return self.log.requests()

    def single_request(self) -> ResponsesRequest:
        return self.log.single_request()

    def last_request(self) -> ResponsesRequest | None:
        return self.log.last_request()

    def saw_function_call(self, call_id: str) -> bool:
        return self.log.saw_function_call(call_id)

    def function_call_output_text(self, call_id: str) -> str | None:
        return self.log.function_call_output_text(call_id)

    def single_request_path(self) -> str:
        return self.single_request().path()


ModelsMock = ResponseMock


class MockServer:
    """A replay server with no cassette, driven by mounts; sync or async context manager."""

    def __init__(self, **options: Any) -> None:
        self.server = ReplayServer(**options)
        self.mocks: list[ResponseMock] = []

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def uri(self) -> str:
        """The origin without /v1 (wiremock's MockServer::uri)."""
        return self.server.url.removesuffix("/v1")

    @property
    def log(self) -> RequestLog:
        return self.server.log

    def mount(self, method: str, path: str, answers: Sequence[Any], matcher: RequestMatcher | None = None,
              expected: int | None = None, fallback: bool = False) -> ResponseMock:
        rule = self.server.mount(Rule(method, path, list(answers), predicate=matcher), fallback)
        mock = ResponseMock(rule, expected)
        self.mocks.append(mock)
        return mock

    def verify(self) -> None:
        """Raise AssertionError naming every violation, unmatched request and unmet expected count."""
        problems = [event_line(event) for event in MOUNTS.failures(self.server.report.events)]
        for mock in self.mocks:
            if mock.expected is not None and mock.rule.uses != mock.expected:
                problems.append(f"{mock.rule.method} {mock.rule.path}: expected {mock.expected} request(s), "
                                f"got {mock.rule.uses}")
        if problems:
            raise AssertionError("mock server: " + "; ".join(problems))

    def start(self) -> MockServer:
        self.server.__enter__()
        return self

    def close(self, verify: bool = True) -> None:
        self.server.__exit__(None, None, None)
        if verify:
            self.verify()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # A failing test keeps its own error; verification is for tests that passed so far.
        self.close(verify=exc_type is None)

    async def __aenter__(self) -> MockServer:
        await self.server.__aenter__()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.server.__aexit__(None, None, None)
        if exc_type is None:
            self.verify()


def start_mock_server(**options: Any) -> MockServer:
    """A running mock server with a default empty `/models` (as the harness does for hermetic tests).

    The default answers once, and only a `/models` request that no later mount takes.
    """
    server = MockServer(**options).start()
    server.mount(*MODELS, [ResponseTemplate(json_body={"models": []}).answer()], fallback=True)
    return server


def mount_response_once(server: MockServer, response: ResponseTemplate) -> ResponseMock:
    return server.mount(*RESPONSES, [response.answer()])


def mount_response_once_match(server: MockServer, matcher: RequestMatcher, response: ResponseTemplate) -> ResponseMock:
    return server.mount(*RESPONSES, [response.answer()], matcher=matcher)


def mount_sse_once(server: MockServer, body: str) -> ResponseMock:
    return mount_response_once(server, sse_response(body))


def mount_sse_once_match(server: MockServer, matcher: RequestMatcher, body: str) -> ResponseMock:
    return mount_response_once_match(server, matcher, sse_response(body))


def mount_sse_sequence(server: MockServer, bodies: Sequence[str]) -> ResponseMock:
    """Each POST /responses gets the next body; verify() fails unless exactly len(bodies) came."""
    return server.mount(*RESPONSES, [sse_response(b).answer() for b in bodies], expected=len(bodies))


def mount_response_sequence(server: MockServer, responses: Sequence[ResponseTemplate]) -> ResponseMock:
    return server.mount(*RESPONSES, [r.answer() for r in responses], expected=len(responses))


def mount_compact_response_once(server: MockServer, response: ResponseTemplate) -> ResponseMock:
    return server.mount(*COMPACT, [response.answer()])


def mount_compact_json_once(server: MockServer, body: Any) -> ResponseMock:
    return mount_compact_response_once(server, ResponseTemplate(json_body=body))


def mount_compact_json_once_match(server: MockServer, matcher: RequestMatcher, body: Any) -> ResponseMock:
    return server.mount(*COMPACT, [ResponseTemplate(json_body=body).answer()], matcher=matcher)


def mount_models_once(server: MockServer, body: Any) -> ModelsMock:
    return server.mount(*MODELS, [ResponseTemplate(json_body=body).answer()])


def mount_models_once_with_delay(server: MockServer, body: Any, delay_s: float) -> ModelsMock:
    return server.mount(*MODELS, [ResponseTemplate(json_body=body, delay_s=delay_s).answer()])


def mount_models_once_with_etag(server: MockServer, body: Any, etag: str) -> ModelsMock:
    # Codex's models client reads the ETag header, not a JSON field.
    return server.mount(*MODELS, [ResponseTemplate(json_body=body, headers=[("etag", etag)]).answer()])


@dataclass
class FunctionCallResponseMocks:
    function_call: ResponseMock
    completion: ResponseMock


def mount_function_call_agent_response(server: MockServer, call_id: str, arguments: str,
                                       tool_name: str) -> FunctionCallResponseMocks:
    """A function call turn, then a "done" message turn, each mounted once."""
    from rec.synth.events import ev_assistant_message, ev_completed, ev_function_call, ev_response_created, sse

    first = mount_sse_once(server, sse([ev_response_created("resp-1"), ev_function_call(call_id, tool_name, arguments),
                                        ev_completed("resp-1")]))
    second = mount_sse_once(server, sse([ev_assistant_message("msg-1", "done"), ev_completed("resp-2")]))
    return FunctionCallResponseMocks(first, second)


# --- WebSocket -------------------------------------------------------------------------


@dataclass
class WebSocketConnectionConfig:
    """One scripted connection: per client request, the events sent back; handshake headers; accept delay."""

    requests: list[list[dict[str, Any]]]
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    accept_delay_s: float = 0.0


def _connection_answer(config: WebSocketConnectionConfig) -> WebSocketAnswer:
    turns = [Turn(b"", [ServerFrame(0.0, True, json.dumps(event).encode()) for event in events], 0.0)
             for events in config.requests]
    return WebSocketAnswer(headers=list(config.response_headers), deflate=True, greeting=[], turns=turns,
                           close=Close(code=1000, by="server"), accept_delay_ms=config.accept_delay_s * 1000.0)


def start_websocket_server(connections: list[list[list[dict[str, Any]]]]) -> MockServer:
    """A server for `/v1/responses` WebSockets: each connection answers its requests with the given events."""
    return start_websocket_server_with_headers([WebSocketConnectionConfig(c) for c in connections])


def start_websocket_server_with_headers(connections: list[WebSocketConnectionConfig]) -> MockServer:
    """As start_websocket_server, with handshake headers and an accept delay per connection.

    The server's log has the harness's helpers: ``server.log.connections()``,
    ``single_connection()``, ``handshakes()``, ``single_handshake()``,
    ``wait_for_handshakes(n, timeout)``.
    """
    server = MockServer().start()
    server.mount("GET", "/responses", [_connection_answer(c) for c in connections])
    return server
