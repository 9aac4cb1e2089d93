"""The replay server: serves recorded (or mounted) answers and checks every request it gets.

Build one from cassettes or in-memory exchanges, use it as a context manager (sync,
running on its own thread, or async, on the running loop), point a client at ``.url``::

    with ReplayServer.from_cassettes(["run.mpk"]) as server:
        client = OpenAI(base_url=server.url, api_key="test")
        ...
        assert server.log.single_request().has_function_call("call_1")

For each request it decides, in this order: the route (method + path, ``/v1``
optional); the body (Content-Encoding undone, JSON parsed); the invariants (POST
``.../responses`` and WebSocket ``response.create``); the answer (``Matcher``: mounted
rules, then recorded exchanges by sequence or body); drift against the recorded
request. Problems are answered as JSON errors and counted in ``report``.

Building on it (mocks, synthesized answers): ``add_exchanges`` adds recorded-style
exchanges at runtime; ``mount(Rule(method, path, answers, matcher=..., max_uses=...))``
adds a rule checked before the recorded exchanges, whose ``log`` holds the requests it
served. Answers come from ``replayer.answers`` (``compile_exchange``, ``sse_answer``,
``json_answer``, ``WebSocketAnswer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from rec.cassette import Exchange, load_cassette
from rec.encoding import ContentEncodingError, decode_body
from rec.normalize import Normalizer
from replayer.answers import HttpAnswer, Served, WebSocketAnswer, json_answer
from replayer.closest import first_difference
from replayer.faults import Fault, FaultSpecError, faulted_answer, parse_fault
from replayer.http import HttpConnection
from replayer.invariants import InvariantViolation, validate_request_body_invariants
from replayer.lanes import message_lane
from replayer.matching import Matcher, MatchMode, NoMatch, Recorded, Route, Rule, TurnMatch, route_of, show_route
from replayer.report import Report, ReportEvent, unified_json_diff
from replayer.request_log import RequestLog, ResponsesRequest, WebSocketHandshake

if TYPE_CHECKING:
    from replayer.websocket import WebSocketSession

Headers = list[tuple[str, str]]
# The openai SDKs honour this header: an exhausted cassette is not worth retrying.
_NO_RETRY = [("x-should-retry", "false")]


def parse_timing(value: str) -> float | None:
    """`none` -> None (as fast as possible), `recorded` -> 1.0, `scale:F` -> F; ValueError otherwise."""
    if value == "none":
        return None
    if value == "recorded":
        return 1.0
    if value.startswith("scale:"):
        factor = float(value.removeprefix("scale:"))
        if factor < 0 or factor != factor:
            raise ValueError(f"scale factor must be >= 0, got {factor}")
        return factor
    raise ValueError(f"unknown timing {value!r}: use none, recorded or scale:F")


def error_answer(status: int, code: str, message: str, headers: Headers | None = None) -> HttpAnswer:
    """An OpenAI-style JSON error; ``code`` is one of rec's own (rec_invariant_violation, rec_no_match, ...)."""
    body = {"error": {"type": "invalid_request_error", "code": code, "message": message, "param": None}}
    return json_answer(body, status, headers or [])


class Conversation:
    """The responses served on a connection (or over HTTP), so a `previous_response_id` can be followed back."""

    def __init__(self) -> None:
        self._responses: dict[str, tuple[str | None, list[Any], tuple[Any, ...]]] = {}

    def history(self, body: dict[str, Any]) -> list[Any]:
        """The items a request continues: inputs and outputs of the chain; InvariantViolation for an unknown id."""
        items: list[Any] = []
        previous = body.get("previous_response_id")
        seen: set[str] = set()
        while previous is not None:
            if not isinstance(previous, str) or previous not in self._responses or previous in seen:
                raise InvariantViolation(f"previous_response_id {previous!r} names no response this replayer served"
                                         " on this connection")
            seen.add(previous)
            previous, inputs, outputs = self._responses[previous]
            items[:0] = [*inputs, *outputs]
        return items

    def remember(self, body: dict[str, Any], served: Served) -> None:
        if served.response_id is None:
            return
        inputs = body.get("input")
        self._responses[served.response_id] = (
            body.get("previous_response_id"), inputs if isinstance(inputs, list) else [], served.output)


class ReplayServer:
    """A mock Responses API server answering from recorded exchanges and mounted rules."""

    def __init__(self, exchanges: Iterable[Exchange] = (), *, host: str = "127.0.0.1", port: int = 0,
                 timing: str = "none", match: MatchMode = "sequence", repeat: bool = False,
                 ignore: Sequence[str] = (), normalizer: Normalizer | None = None,
                 validate: bool = True, keep_requests: bool = True,
                 emit: Callable[[str], None] | None = None, log_requests: bool = False,
                 faults: Sequence[str | Fault] = ()) -> None:
        self.host = host
        self.port = port
        self.pace = parse_timing(timing)
        self.validate = validate
        self.keep_requests = keep_requests
        self.log_requests = log_requests and emit is not None
        self.emit = emit
        # Body matching and drift compare normalized bodies (rec.normalize, shared with rec diff).
        self.matcher = Matcher(match, (normalizer or Normalizer()).with_ignored(ignore), repeat)
        self.report = Report(emit=emit)
        # Faults to inject (replayer.faults); a spec string raises FaultSpecError naming the bad part.
        self.faults = [parse_fault(f) if isinstance(f, str) else f for f in faults]
        self.log = RequestLog()
        self.warnings: list[str] = []
        self.connections: set[HttpConnection] = set()
        self.http_conversation = Conversation()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished = False
        self.closing = False  # set while shutting down: connections dropped by us are not the client's doing
        self.add_exchanges(exchanges)

    @classmethod
    def from_cassettes(cls, paths: Iterable[str | os.PathLike[str]], **options: Any) -> ReplayServer:
        """Serve the exchanges of these cassettes, in order; a damaged tail is a warning, not an error.

        Raises rec.cassette.CassetteError for a file that is not a cassette, and FaultSpecError
        for a fault on an exchange the cassettes do not hold (it would never fire).
        """
        server = cls(**options)
        with _collector_paused():
            for path in paths:
                cassette = load_cassette(path)
                server.report.cassettes.append(str(path))
                server.add_exchanges(cassette.exchanges, source=os.fspath(path))
                server.warnings.extend(cassette.warnings())
        recorded = len(server.matcher.recorded)
        for fault in server.faults:
            if fault.exchange is not None and fault.exchange >= recorded:
                raise FaultSpecError(f"fault {fault.spec!r}: no exchange {fault.exchange} (the cassettes hold "
                                     f"{recorded}, numbered from 0 as rec show lists them)")
        return server

    # --- building ---------------------------------------------------------------------

    def add_exchanges(self, exchanges: Iterable[Exchange], source: str = "") -> int:
        """Add exchanges to serve (also while serving); returns how many can be served."""
        return self.matcher.add_exchanges(exchanges, source)

    def mount(self, rule: Rule, fallback: bool = False) -> Rule:
        """Add a rule answered before any recorded exchange; its ``log`` fills as it serves.

        A ``fallback`` rule is tried after every other rule, including those mounted later.
        """
        return self.matcher.mount(rule, fallback)

    @property
    def url(self) -> str:
        """The base URL for clients, with /v1."""
        return f"http://{self.host}:{self.port}/v1"

    # --- answering HTTP ---------------------------------------------------------------

    def answer_http(self, method: str, target: str, headers: Headers, body: bytes) -> HttpAnswer:
        """The answer for one HTTP request; every problem is an error answer, never an exception."""
        route = route_of(method, target)
        if not self.matcher.knows(route):
            return self._unmatched(route, self.matcher.unknown_route_message(route), 404, "rec_unknown_route")
        request = ResponsesRequest(method, target, headers, body)
        if self.keep_requests:
            self.log.add_request(request)
        content = body
        json_body: Any = None
        if body:
            encoding = request.header("content-encoding")
            if encoding:
                try:
                    content = decode_body(body, encoding)
                except ContentEncodingError as err:
                    return self._bad(route, f"the body claims Content-Encoding {encoding!r} but {err}")
            try:
                json_body = orjson.loads(content)
            except orjson.JSONDecodeError as err:
                return self._bad(route, f"the body is not JSON ({err}); send a JSON request body")
        is_responses = method == "POST" and route[1].endswith("/responses")
        if is_responses:
            problem = self.check_invariants(route, json_body, self.http_conversation)
            if problem is not None:
                return error_answer(400, "rec_invariant_violation", problem)
        try:
            answer, entry, rule = self.matcher.take(route, request, json_body)
        except NoMatch as err:
            return self._unmatched(route, str(err), 409, "rec_no_match")
        if not isinstance(answer, HttpAnswer):
            message = f"{show_route(route)} was recorded as a WebSocket; connect with Upgrade: websocket"
            return self._bad(route, message)
        if rule is not None and self.keep_requests:
            rule.log.add_request(request)
        if entry is not None and json_body is not None:
            self.check_drift(route, entry, content, json_body, entry.body)
        if is_responses and isinstance(json_body, dict):
            self.http_conversation.remember(json_body, answer.served)
        fault = self.take_fault(route, entry)
        if fault is not None:
            assert entry is not None
            answer = faulted_answer(answer, fault, lambda: self.matcher.give_back(entry),
                                    lambda: self.matcher.reclaim(entry))
        self.count_served(route, entry, f"{answer.status}")
        return answer

    def take_fault(self, route: Route, entry: Recorded | None, turn: int | None = None) -> Fault | None:
        """The fault to inject into this serve of a recorded exchange (or turn), if any; noted in the report."""
        if entry is None or not self.faults:
            return None
        for fault in self.faults:
            if fault.selects(entry.index, turn):
                fault.times -= 1
                where = f"exchange {entry.label}" + (f" turn {turn}" if turn is not None else "")
                self.report.add(ReportEvent("fault", show_route(route), entry.index,
                                            f"injected {fault.spec!r} into {where}"))
                return fault
        return None

    def _bad(self, route: Route, message: str) -> HttpAnswer:
        self.report.add(ReportEvent("bad_request", show_route(route), None, message))
        return error_answer(400, "rec_bad_request", message)

    def _unmatched(self, route: Route, message: str, status: int, code: str) -> HttpAnswer:
        self.report.add(ReportEvent("unmatched", show_route(route), None, message))
        return error_answer(status, code, message, _NO_RETRY)

    # --- answering WebSockets ---------------------------------------------------------

    def open_websocket(self, transport: asyncio.Transport, method: str, target: str,
                       headers: Headers) -> WebSocketSession | HttpAnswer:
        """A session for an upgrade request, or the HTTP answer that refuses it."""
        route = route_of(method, target)
        if not self.matcher.knows(route):
            return self._unmatched(route, self.matcher.unknown_route_message(route), 404, "rec_unknown_route")
        request = ResponsesRequest(method, target, headers, b"")
        try:
            answer, entry, rule = self.matcher.take(route, request, None, websocket=True)
        except NoMatch as err:
            return self._unmatched(route, str(err), 409, "rec_no_match")
        if not isinstance(answer, WebSocketAnswer):
            assert isinstance(answer, HttpAnswer)
            self.count_served(route, entry, f"{answer.status} to an upgrade")
            return answer
        # wsproto (and h11) load on the first upgrade, keeping start-to-listening short.
        from replayer.websocket import WebSocketSession

        handshake = WebSocketHandshake(target.partition("?")[0], headers)
        logs = [self.log.add_connection(handshake)]
        if rule is not None:
            logs.append(rule.log.add_connection(handshake))
        try:
            session = WebSocketSession(self, transport, target, headers, route, answer, entry, rule, logs,
                                       Conversation())
        except Exception as err:  # wsproto rejects a malformed handshake in several ways
            return self._bad(route, f"malformed WebSocket handshake: {err}")
        self.count_served(route, entry, "101")
        return session

    def take_turn(self, session: WebSocketSession, body: Any) -> TurnMatch | str:
        """The recorded turn for a client message, or the message of the unmatched event it caused."""
        answer = session.answer
        if session.lanes is not None:
            number = session.lanes.pick(body)
            if number is not None:
                if session.entry is not None:
                    session.entry.turns_used.add(number)
                return TurnMatch(session.entry, number, answer.turns[number])
            where = f"exchange {session.entry.label}" if session.entry is not None else "the mounted conversation"
            message = (f"no recorded WebSocket turn left on lane {message_lane(body)!r} for "
                       f"{show_route(session.route)} ({where} has {len(answer.turns)} turn(s) on lanes "
                       f"{sorted({str(t.lane) for t in answer.turns})})"
                       + self.matcher.turn_miss_detail(session.route, session.entry, body))
        elif session.entry is None:
            # A mounted conversation is played in order.
            if session.cursor < len(answer.turns):
                return TurnMatch(None, session.cursor, answer.turns[session.cursor])
            message = f"the mounted WebSocket conversation has no turn {session.cursor}"
        else:
            match = self.matcher.take_turn(session.entry, session.cursor, session.route, body)
            if match is not None:
                return match
            recorded = len(answer.turns)
            how = "with this normalized message" if self.matcher.mode == "body" else f"after {recorded} turn(s)"
            message = (f"no recorded WebSocket turn {how} for {show_route(session.route)} "
                       f"(exchange {session.entry.label} has {recorded} turn(s))"
                       + self.matcher.turn_miss_detail(session.route, session.entry, body))
        self.report.add(ReportEvent("unmatched", show_route(session.route), None, message, received=body))
        return message

    def note_unconsumed(self, method: str, target: str, exchange: int | None, problem: str) -> None:
        """Report a served stream the client did not read to the end (a disconnect, or data left unread)."""
        what = "" if exchange is not None else " (a mounted answer)"  # an exchange's number is on the event
        self.report.add(ReportEvent("unconsumed", show_route(route_of(method, target)), exchange,
                                    f"{problem}{what}; read streams to the end, or close them on purpose"))

    def bad_websocket_message(self, route: Route, problem: str) -> str:
        message = f"WebSocket message is {problem}; send each request as a JSON text frame"
        self.report.add(ReportEvent("bad_request", show_route(route), None, message))
        return message

    # --- checks shared by both ---------------------------------------------------------

    def check_invariants(self, route: Route, body: Any, conversation: Conversation) -> str | None:
        """The violation message for a Responses request (counted), or None when it is well formed."""
        if not self.validate:
            return None
        try:
            history = conversation.history(body) if isinstance(body, dict) else []
            validate_request_body_invariants(body, history)
        except InvariantViolation as err:
            message = f"rec: request breaks a Responses invariant: {err}"
            self.report.add(ReportEvent("violation", show_route(route), None, message, received=body))
            return message
        return None

    def check_drift(self, route: Route, entry: Recorded, content: str | bytes, received: Any, recorded: Any,
                    turn: int | None = None) -> None:
        """Log a drift event when the request differs, normalized, from the recorded one it matched."""
        if recorded is None:
            return
        raw = entry.request.content if turn is None else entry.answer.turns[turn].message  # type: ignore[attr-defined]
        if isinstance(content, str):
            content = content.encode()
        if content == raw:
            return
        normalizer = self.matcher.normalizer
        before, after = normalizer.body(recorded), normalizer.body(received)
        if before == after:
            return
        where = f"turn {turn}: " if turn is not None else ""
        first = first_difference(before, after)
        at = f" first at {first.describe()}" if first is not None else ""
        self.report.add(ReportEvent("drift", show_route(route), entry.index,
                                    f"{where}request differs from the recorded one{at}",
                                    unified_json_diff(before, after), before, after))

    def count_served(self, route: Route, entry: Recorded | None, what: str) -> None:
        self.report.served += 1
        if self.log_requests and self.emit is not None:
            origin = f"exchange {entry.label}" if entry is not None else "a mounted rule"
            self.emit(f"served {show_route(route)} -> {what} from {origin}")

    # --- lifecycle --------------------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> ReplayServer:
        """Listen on host:port (port 0 picks a free one); raises OSError when the port is taken."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: HttpConnection(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> Report:
        """Stop listening, drop open connections, and fill in the unused exchanges; returns the report."""
        # A client that just hung up has its FIN or RST waiting in the kernel: let the loop see it
        # (and report an unread stream) before the connections we drop stop counting as the client's.
        await asyncio.sleep(0.005)
        self.closing = True
        if self._server is not None:
            self._server.close()
            for connection in list(self.connections):
                connection.abort()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        return self.finish()

    def finish(self) -> Report:
        """Add an `unused` event per recorded exchange (or WebSocket turn) never served; once."""
        if not self._finished:
            self._finished = True
            for entry, message in self.matcher.unused():
                self.report.events.append(ReportEvent("unused", show_route(entry.route), entry.index, message))
        return self.report

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> ReplayServer:
        loop = _new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="rec-replay", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
        except BaseException:
            self._stop_thread()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.aclose(), self._loop).result(timeout=10)
            self._stop_thread()

    def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while loading: a big cassette makes only long-lived objects,
    and collections triggered by their sheer number cost a third of the load time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
