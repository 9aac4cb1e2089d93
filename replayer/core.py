"""The replay core: what a request gets, decided without touching a socket.

Two entry points, each one fixed pipeline of small named steps, read top to bottom:

- ``handle_http(request) -> HttpAnswer``: route -> log -> decode -> invariants -> match
  -> drift -> echo -> conversation -> fault -> count.
- ``open_session(handshake) -> WebSocketConversation | HttpAnswer``: route -> match the
  handshake -> log; then per client message ``WebSocketConversation.answer(message)``:
  decode -> log -> invariants -> pick the turn -> drift -> conversation -> count -> frames
  (lane and echoed fields rewritten) -> fault.

A problem is never an exception for the transport: a step that refuses raises ``Refused``
with the answer to send (a JSON error, or an ``error`` event), and the problem is counted
in ``report``. The wire adapters (``replayer.http``, ``replayer.websocket``) only parse
bytes, call these, and write what they return.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson

from rec.cassette import CassetteError, Headers, IndexedRecord, index_cassette
from rec.encoding import BodyTooLarge, ContentEncodingError, decode_body
from rec.normalize import Normalizer
from replayer.answers import (
    Answer,
    FaultedAnswer,
    ForwardedAnswer,
    HttpAnswer,
    WebSocketAnswer,
    error_answer,
)
from replayer.closest import first_difference
from replayer.conversation import Conversation, History
from replayer.echo import echo_swaps
from replayer.errors import Refused
from replayer.faults import Fault, FaultSpecError, parse_fault
from replayer.invariants import InvariantViolation, validate_request_body_invariants
from replayer.lanes import LaneRouter, message_lane, rewrite_frames
from replayer.limits import Limits
from replayer.match_modes import MatchMode
from replayer.matching import Matcher, NoMatch, Rule
from replayer.recorded import Recorded, TurnMatch
from replayer.report import Report, ReportEvent, unified_json_diff
from replayer.request_log import RequestLog, ResponsesRequest, WebSocketHandshake
from replayer.routes import Route, endpoint_of, query_difference, query_of, route_of, show_route
from replayer.turns import ServerFrame, Turn

# Cassettes up to this many stored (compressed) bytes are decoded at load, so a first serve costs no more
# than a repeat; bigger ones (many exchanges, or huge answers) are indexed and decoded as first served.
DECODE_AT_LOAD_UP_TO = 8 * 1024 * 1024
# The openai SDKs honour this header: an exhausted cassette is not worth retrying.
_NO_RETRY = [("x-should-retry", "false")]


@dataclass
class TurnPlan:
    """What to send for one WebSocket message: the turn's frames (rewritten) and an injected fault, if any."""

    match: TurnMatch
    frames: list[ServerFrame]
    fault: Fault | None
    last: bool  # the recorded conversation's last turn: its recorded close follows


class ReplayCore:
    """Recorded exchanges and mounted rules, the checks every request goes through, and the report."""

    def __init__(self, *, match: MatchMode | str = MatchMode.sequence, normalizer: Normalizer | None = None,
                 repeat: bool = False, ignore: Sequence[str] = (), validate: bool = True,
                 keep_requests: bool = True, faults: Sequence[str | Fault] = (), pace: float | None = None,
                 report: Report | None = None, log_served: bool = False,
                 decoded_body_limit: int = Limits.decoded_body, forward_to: tuple[str, int] | None = None,
                 log_kept: int | None = None) -> None:
        # Body matching and drift compare normalized bodies (rec.normalize, shared with rec diff).
        self.matcher = Matcher(match, (normalizer or Normalizer()).with_ignored(ignore), repeat)
        self.validate = validate
        self.keep_requests = keep_requests
        self.pace = pace
        self.decoded_body_limit = decoded_body_limit
        # Where a request nothing recorded answers is relayed to be recorded (pytest's new_episodes), and the
        # path prefix of its recording there (the recorder records many tests at once, recorder.routing).
        self.forward_to = forward_to
        self.forward_prefix = ""
        self.report = report or Report()
        self.log_served = log_served and self.report.emit is not None
        # A spec string raises FaultSpecError naming the bad part.
        self.faults = [parse_fault(f) if isinstance(f, str) else f for f in faults]
        # Every request, as a test reads them (``log_kept`` the newest only: a `rec serve` session serving for days).
        self.log = RequestLog(log_kept)
        self.conversation = Conversation(_RecordedPrevious(self.matcher, relayed=forward_to is not None))

    def load(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Serve the exchanges of these cassettes, in order; returns the warnings (a damaged tail).

        Raises rec.cassette.CassetteError for a file that is not a cassette, and FaultSpecError
        for a fault on an exchange the cassettes do not hold (it would never fire).
        """
        warnings: list[str] = []
        with _collector_paused():
            for path in paths:
                _, records, damage = index_cassette(path, self.matcher.strategy.indexes_content)
                stored = sum(len(r.frame) for r in records if isinstance(r, IndexedRecord))
                # A cassette of a test's size is decoded now, so no request pays for a first decode; a larger
                # one keeps each answer compressed until it is first served.
                decode = stored <= DECODE_AT_LOAD_UP_TO
                self.matcher.add_exchanges(records, source=os.fspath(path), decode=decode)
                self.report.cassettes.append(str(path))
                if damage is not None:
                    warnings.append(f"{path}: {damage.describe()}; kept {len(records)} whole exchange(s)")
        self.check_fault_targets()
        return warnings

    def check_fault_targets(self) -> None:
        """FaultSpecError for a fault on an exchange the loaded cassettes do not hold (it would never fire)."""
        recorded = len(self.matcher.recorded)
        for fault in self.faults:
            if fault.exchange is not None and fault.exchange >= recorded:
                raise FaultSpecError(f"fault {fault.spec!r}: no exchange {fault.exchange} (the cassettes hold "
                                     f"{recorded}, numbered from 0 as rec show lists them)")

    # --- HTTP -------------------------------------------------------------------------

    def handle_http(self, request: ResponsesRequest) -> HttpAnswer:
        """The answer for one HTTP request; every problem is an error answer, never an exception."""
        route = route_of(request.method, request.target)
        known = endpoint_of(route)
        endpoint = known.endpoint if known is not None else None
        try:
            self._known(route)
            self._log(request)
            content, body = self._decode(route, request)
            if endpoint is not None and endpoint.validates:
                self.check_invariants(route, body)
            answer, entry = self._match_http(route, request, body, content)
        except Refused as refused:
            return error_answer(refused)
        if known is not None and known.endpoint.shows is not None:
            # The recorded exchange, not an echoed copy of its answer: its id and output are the same, and the
            # exchange is one small object however often it is served (its answer is read again when needed).
            params = known.params
            sent = entry if entry is not None and content == entry.request.content else content
            self.conversation.remember(sent, entry if entry is not None else answer, known.endpoint.shows,
                                       params.get("response_id") or params.get("conversation_id"))
        if entry is not None:
            self._check_query(route, entry, request.target)
        if entry is not None and body is not None:
            self.check_drift(route, entry, content, body)
            answer = self._echo(answer, entry, content, body)
        answer = self._inject_fault(route, entry, answer)
        self.count(route, entry, f"{answer.status}")
        return answer

    def _known(self, route: Route) -> None:
        if not self.matcher.knows(route) and self.forward_to is None:
            self._refuse_unmatched(route, self.matcher.unknown_route_message(route), 404, "rec_unknown_route")

    def _log(self, request: ResponsesRequest) -> None:
        if self.keep_requests:
            self.log.add_request(request)

    def _decode(self, route: Route, request: ResponsesRequest) -> tuple[bytes, Any]:
        """The body with its Content-Encoding undone, and parsed as JSON (None when empty)."""
        if not request.body:
            return b"", None
        content = request.body
        encoding = request.header("content-encoding")
        if encoding:
            try:
                content = decode_body(request.body, encoding, self.decoded_body_limit)
            except BodyTooLarge as err:
                message = f"the request body is refused: {err} (--limit decoded_body)"
                self.report.add(ReportEvent("bad_request", show_route(route), None, message))
                raise Refused(413, "rec_body_too_large", message) from None
            except ContentEncodingError as err:
                self.refuse_bad(route, f"the body claims Content-Encoding {encoding!r} but {err}")
        try:
            return content, orjson.loads(content)
        except orjson.JSONDecodeError as err:
            self.refuse_bad(route, f"the body is not JSON ({err}); send a JSON request body")

    def check_invariants(self, route: Route, body: Any) -> None:
        if not self.validate:
            return
        try:
            history = self.conversation.history(body) if isinstance(body, dict) else History()
            validate_request_body_invariants(body, history.items, history.complete)
        except InvariantViolation as err:
            message = f"rec: request breaks a Responses invariant: {err}"
            self.report.add(ReportEvent("violation", show_route(route), None, message, received=body))
            raise Refused(400, "rec_invariant_violation", message) from None

    def _match_http(self, route: Route, request: ResponsesRequest, body: Any,
                    content: bytes) -> tuple[HttpAnswer, Recorded | None]:
        answer, entry, rule = self._take(route, request, body, websocket=False, content=content)
        if not isinstance(answer, HttpAnswer):
            self.refuse_bad(route, f"{show_route(route)} was recorded as a WebSocket; connect with "
                                   "Upgrade: websocket")
        if rule is not None and self.keep_requests:
            rule.log.add_request(request)
        return answer, entry

    def _take(self, route: Route, request: ResponsesRequest, body: Any, websocket: bool,
              content: bytes = b"") -> tuple[Answer, Recorded | None, Rule | None]:
        try:
            answer, entry, rule, note = self.matcher.take(route, request, body, websocket, content)
        except CassetteError as err:  # an indexed record decoded on its first serve, and malformed
            message = f"the recorded answer cannot be served: {err}; record it again (rec check finds these)"
            self.report.add(ReportEvent("bad_request", show_route(route), None, message))
            raise Refused(500, "rec_bad_cassette", message) from None
        except NoMatch as err:
            if self.forward_to is not None:
                return ForwardedAnswer(self.forward_to, request.method, self.forward_prefix + request.target,
                                       request.headers, request.body), None, None
            self._refuse_unmatched(route, str(err), 409, "rec_no_match")
        if note is not None:
            self.report.add(ReportEvent("fallback", show_route(route), entry.index if entry else None, note))
        return answer, entry, rule

    def check_drift(self, route: Route, entry: Recorded, content: bytes, received: Any,
                    turn: TurnMatch | None = None) -> None:
        """Log a drift event when the request (or a WebSocket turn's message) differs, normalized, from the
        recorded one it matched."""
        recorded_raw = entry.request.content if turn is None else turn.turn.message
        if content == recorded_raw:
            return  # the common case, decided without parsing the recorded request
        recorded = entry.body if turn is None else turn.turn.body
        if recorded is None:
            return
        normalizer = self.matcher.normalizer
        before, after = normalizer.body(recorded), normalizer.body(received)
        if before == after:
            return
        if turn is None and self.matcher.strategy.in_connection_order:
            other = self.matcher.recorded_request_like(route, after, entry)
            if other is not None:
                self.report.add_reordered(show_route(route), entry.index, other.label, before, after)
                return
        where = f"turn {turn.number}: " if turn is not None else ""
        first = first_difference(before, after)
        at = f" first at {first.describe()}" if first is not None else ""
        self.report.add(ReportEvent("drift", show_route(route), entry.index,
                                    f"{where}request differs from the recorded one{at}",
                                    unified_json_diff(before, after), before, after))

    def _check_query(self, route: Route, entry: Recorded, target: str) -> None:
        """Log a drift event naming the first query parameter that differs from the recorded request's."""
        received = query_of(target) if "?" in target else {}
        if not received and not entry.query_string:
            return  # the common case: neither has a query
        difference = query_difference(entry.query, received)
        if difference is not None:
            self.report.add(ReportEvent("drift", show_route(route), entry.index,
                                        f"request differs from the recorded one: {difference}",
                                        unified_json_diff(entry.query, received), entry.query, received))

    def _echo(self, answer: HttpAnswer, entry: Recorded, content: bytes, body: Any) -> HttpAnswer:
        """The answer with the fields it echoes from its request set to what this client sent."""
        if content == entry.request.content:
            return answer
        swaps = echo_swaps(entry.body, body)
        return answer.with_echo(swaps) if swaps else answer

    def _inject_fault(self, route: Route, entry: Recorded | None, answer: HttpAnswer) -> HttpAnswer:
        fault = self.take_fault(route, entry)
        if fault is None:
            return answer
        assert entry is not None
        return FaultedAnswer(answer, fault, lambda: self.matcher.give_back(entry),
                             lambda: self.matcher.reclaim(entry))

    # --- WebSocket --------------------------------------------------------------------

    def open_session(self, method: str, target: str, headers: Headers) -> WebSocketConversation | HttpAnswer:
        """The conversation for an upgrade request, or the HTTP answer that refuses it."""
        route = route_of(method, target)
        request = ResponsesRequest(method, target, headers, b"")
        try:
            self._known(route)
            answer, entry, rule = self._take(route, request, None, websocket=True)
        except Refused as refused:
            return error_answer(refused)
        if isinstance(answer, ForwardedAnswer):
            self.count(route, None, "relayed to the recorder")
            return answer  # relayed to the recorder as a whole connection
        if not isinstance(answer, WebSocketAnswer):
            assert isinstance(answer, HttpAnswer)
            self.count(route, entry, f"{answer.status} to an upgrade")
            return answer  # a recorded refusal (e.g. 426) is replayed as such
        handshake = WebSocketHandshake(target.partition("?")[0], headers)
        logs = [(self.log, self.log.add_connection(handshake))]
        if rule is not None:
            logs.append((rule.log, rule.log.add_connection(handshake)))
        self.count(route, entry, "101")
        return WebSocketConversation(self, route, target, answer, entry, logs)

    def refuse_handshake(self, target: str, problem: str) -> HttpAnswer:
        """The 400 for an upgrade the WebSocket layer could not accept."""
        try:
            self.refuse_bad(route_of("GET", target), f"malformed WebSocket handshake: {problem}")
        except Refused as refused:
            return error_answer(refused)

    # --- shared steps -----------------------------------------------------------------

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

    def note_refused(self, target: str, message: str) -> None:
        """Count a request the transport refused before it arrived whole (too large, too slow, malformed)."""
        self.report.add(ReportEvent("bad_request", target or "?", None, message))

    def note_unconsumed(self, method: str, target: str, exchange: int | None, problem: str) -> None:
        """Report a served stream the client did not read to the end (a disconnect, or data left unread)."""
        what = "" if exchange is not None else " (a mounted answer)"  # an exchange's number is on the event
        self.report.add(ReportEvent("unconsumed", show_route(route_of(method, target)), exchange,
                                    f"{problem}{what}; read streams to the end, or close them on purpose"))

    def finish(self) -> Report:
        """Add an `unused` event per recorded exchange (or WebSocket turn) never served; once."""
        if not self.report.finished:
            self.report.finished = True
            for entry, message in self.matcher.iter_unused():
                self.report.add(ReportEvent("unused", show_route(entry.route), entry.index, message), emit=False)
        return self.report

    def count(self, route: Route, entry: Recorded | None, what: str) -> None:
        self.report.served += 1
        if self.log_served and self.report.emit is not None:
            origin = f"exchange {entry.label}" if entry is not None else "a mounted rule"
            self.report.emit(f"served {show_route(route)} -> {what} from {origin}")

    def refuse_bad(self, route: Route, message: str) -> NoReturn:
        self.report.add(ReportEvent("bad_request", show_route(route), None, message))
        raise Refused(400, "rec_bad_request", message)

    def _refuse_unmatched(self, route: Route, message: str, status: int, code: str) -> NoReturn:
        self.report.add(ReportEvent("unmatched", show_route(route), None, message))
        raise Refused(status, code, message, headers=_NO_RETRY)


class _RecordedPrevious:
    """Whether a recorded request (or WebSocket message) named an id as its previous response: the question the
    conversation asks of the recording, answered without a reference back to the core, so a core that is let go
    (a `rec serve` session ended) is freed at once, not left to the cyclic collector."""

    def __init__(self, matcher: Matcher, relayed: bool) -> None:
        self.matcher = matcher
        self.relayed = relayed
        self.named: set[str] | None = None

    def __call__(self, response_id: str) -> bool:
        if self.relayed:
            return True  # relayed requests got answers from the upstream, which the replay never saw
        if self.named is None:  # built on the first unknown id only: an error path
            named: set[str] = set()
            for entry in self.matcher.recorded:
                bodies = ([turn.body for turn in entry.answer.turns] if isinstance(entry.answer, WebSocketAnswer)
                          else [entry.body])
                named.update(body["previous_response_id"] for body in bodies
                             if isinstance(body, dict) and isinstance(body.get("previous_response_id"), str))
            self.named = named
        return response_id in self.named


class WebSocketConversation:
    """One client's WebSocket conversation with the core: picks and prepares the answer to each message."""

    def __init__(self, core: ReplayCore, route: Route, target: str, answer: WebSocketAnswer, entry: Recorded | None,
                 logs: list[tuple[RequestLog, int]]) -> None:
        self.core = core
        self.route = route
        self.target = target
        self.answer = answer
        self.entry = entry
        # The recorded connection stays decoded while this one is open: its turns are read on every message.
        self._held = entry.hold() if entry is not None else None
        self.logs = logs
        self.cursor = 0
        # A mounted conversation is always played in order; a recorded one as its match mode says.
        self.in_order = entry is None or core.matcher.strategy.in_connection_order
        resumed: set[int] = set()
        if entry is not None and entry.resumes:
            # The reconnect after an injected fault: served turns stay served, the retry gets the faulted one.
            entry.resumes = False
            resumed = set(entry.turns_used)
            self.cursor = len(resumed)
        # A conversation on named lanes is matched per lane (replayer.lanes), when played in order.
        key = core.matcher.strategy.key
        self.lanes = LaneRouter(answer.turns, key, resumed) if answer.has_lanes and self.in_order else None

    def answer_message(self, message: str | bytes) -> TurnPlan:
        """The plan for one client message; raises Refused (sent as an ``error`` event) when there is none."""
        content = message.encode() if isinstance(message, str) else message
        body = self._decode(content)
        for log, connection in self.logs:  # logs the bytes already read: parsed only if the log is read
            log.add_message(connection, content)
        kind = body.get("type")
        if kind == "response.create":
            self.core.check_invariants(self.route, body)
        match = self._pick_turn(body)
        if self.in_order:
            self.cursor += 1
        if match.entry is not None:
            self.core.check_drift(self.route, match.entry, content, body, match)
        if kind in ("response.create", "response.steer"):
            self.core.conversation.remember(content, match.turn)
        self.core.count(self.route, match.entry, f"turn {match.number}")
        swaps = echo_swaps(match.turn.body, body) if content != match.turn.message else {}
        frames = rewrite_frames(match.turn, self._events_lane(body, match.turn), swaps)
        fault = self.core.take_fault(self.route, match.entry, match.number)
        last = self.in_order and self.cursor == len(self.answer.turns)
        return TurnPlan(match, frames, fault, last)

    def give_back(self, match: TurnMatch, whole_connection: bool) -> None:
        """Undo a faulted turn: the retry on this connection, or on a new one, gets it again."""
        matcher = self.core.matcher
        if self.in_order:
            self.cursor -= 1
        if self.lanes is not None:
            self.lanes.give_back(match.number)
        if match.entry is None:
            return
        matcher.give_back(match.entry, match.number)
        if whole_connection and self.in_order:
            # The client reconnects to retry this turn: the new connection starts there.
            match.entry.resumes = True
            matcher.give_back(match.entry)

    def note_unconsumed(self, match: TurnMatch, problem: str) -> None:
        index = match.entry.index if match.entry is not None else None
        self.core.note_unconsumed("GET", self.target, index, f"{problem} WebSocket turn {match.number}")

    def _decode(self, content: bytes) -> dict[str, Any]:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError as err:
            self._refuse_message(f"not JSON ({err})")
        if not isinstance(body, dict):
            # Not a request at all: refused before it can use up a recorded turn.
            self._refuse_message(f"JSON {type(body).__name__}, not an object")
        return body

    def _refuse_message(self, problem: str) -> NoReturn:
        self.core.refuse_bad(self.route, f"WebSocket message is {problem}; send each request as a JSON "
                                         "object in a text frame")

    def _pick_turn(self, body: dict[str, Any]) -> TurnMatch:
        answer, entry, matcher = self.answer, self.entry, self.core.matcher
        if self.lanes is not None:
            number = self.lanes.pick(body)
            if number is not None:
                if entry is not None:
                    entry.turns_used.add(number)
                return TurnMatch(entry, number, answer.turns[number])
            where = f"exchange {entry.label}" if entry is not None else "the mounted conversation"
            message = (f"no recorded WebSocket turn left on lane {message_lane(body)!r} for "
                       f"{show_route(self.route)} ({where} has {len(answer.turns)} turn(s) on lanes "
                       f"{sorted({str(t.lane) for t in answer.turns})})"
                       + matcher.turn_miss_detail(self.route, entry, body))
        elif entry is None:
            if self.cursor < len(answer.turns):
                return TurnMatch(None, self.cursor, answer.turns[self.cursor])
            message = f"the mounted WebSocket conversation has no turn {self.cursor}"
        else:
            match = matcher.take_turn(entry, self.cursor, self.route, body)
            if match is not None:
                return match
            recorded = len(answer.turns)
            message = (f"no recorded WebSocket turn {matcher.strategy.turn_miss(recorded)} for "
                       f"{show_route(self.route)} (exchange {entry.label} has {recorded} turn(s))"
                       + matcher.turn_miss_detail(self.route, entry, body))
        self.core.report.add(ReportEvent("unmatched", show_route(self.route), None, message, received=body))
        raise Refused(409, "rec_no_match", message)

    def _events_lane(self, body: dict[str, Any], turn: Turn) -> str | None:
        """The lane name the client uses for this turn's events (a steer names none: its response's lane)."""
        if body.get("type") == "response.steer":
            return self.lanes.client_name(turn.lane) if self.lanes is not None else turn.lane
        return message_lane(body)


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
