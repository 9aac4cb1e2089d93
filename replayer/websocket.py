"""A replayed WebSocket conversation on wsproto: the recorded handshake, a recorded turn per client message, the close.

Wire order for one connection: the 101 answer with the recorded headers (and
permessage-deflate when the client offers it and the recording had it), any frames
the server sent before the first client message, then for each client message its
recorded server frames at their recorded offsets, and after the last recorded turn
the recorded server close. A message the server cannot answer (not JSON, breaking an
invariant, nothing recorded left) gets an ``error`` event and the connection stays open.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from replayer.answers import ServerFrame, Turn, WebSocketAnswer, reset, sleep_until
from replayer.faults import CORRUPT_FRAME, Fault
from replayer.lanes import LaneRouter, message_lane, rewrite_frames
from replayer.request_log import WebSocketRequest

if TYPE_CHECKING:
    from replayer.matching import Recorded, Route, Rule, TurnMatch
    from replayer.server import Conversation, ReplayServer

Headers = list[tuple[str, str]]


def handshake_bytes(method: str, target: str, headers: Headers) -> bytes:
    """The upgrade request as it came on the wire, rebuilt from its parsed parts for wsproto."""
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WebSocketSession:
    """One client's WebSocket connection, answered from a recorded (or mounted) conversation."""

    def __init__(self, server: ReplayServer, transport: asyncio.Transport, target: str, headers: Headers,
                 route: Route, answer: WebSocketAnswer, entry: Recorded | None, rule: Rule | None,
                 logs: list[list[WebSocketRequest]], conversation: Conversation) -> None:
        self.server = server
        self.transport = transport
        self.target = target
        self.route = route
        self.answer = answer
        self.entry = entry
        self.rule = rule
        self.logs = logs
        self.conversation = conversation
        self.cursor = 0
        resumed: set[int] = set()
        if entry is not None and entry.resumes:
            # The reconnect after an injected fault: served turns stay served, the retry gets the faulted one.
            entry.resumes = False
            resumed = set(entry.turns_used)
            self.cursor = len(resumed)
        self.ws = WSConnection(ConnectionType.SERVER)
        self.ws.receive_data(handshake_bytes("GET", target, headers))
        if not any(isinstance(event, Request) for event in self.ws.events()):
            raise ValueError("not a WebSocket handshake")
        extensions = [PerMessageDeflate()] if answer.deflate else []
        extra = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
        accept = self.ws.send(AcceptConnection(extensions=extensions, extra_headers=extra))
        delay = answer.accept_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, transport.write, accept)
        else:
            transport.write(accept)
        self.opened = time.monotonic() + delay
        self.inbox: asyncio.Queue[tuple[Any, float] | None] = asyncio.Queue()
        # A conversation on named lanes is matched per lane (replayer.lanes), in sequence mode.
        per_lane = answer.has_lanes and (entry is None or server.matcher.mode == "sequence")
        self.lanes = LaneRouter(answer, server.matcher.normalizer, resumed) if per_lane else None
        self._lane_tasks: dict[str | None, asyncio.Task[None]] = {}
        # Turns being sent now (per lane) and the last sent whole, to tell a client that left early.
        self._sending: dict[str | None, TurnMatch] = {}
        self._last_turn: TurnMatch | None = None
        self._parts: list[str | bytes] = []
        server.spawn(self._converse())

    # --- reading ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    message = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)  # type: ignore[arg-type]
                    self.inbox.put_nowait((message, time.monotonic()))
            elif isinstance(event, Ping):
                self.transport.write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self.transport.write(self.ws.send(event.response()))
                self.transport.close()
                self.inbox.put_nowait(None)

    def connection_lost(self, exc: Exception | None = None) -> None:
        self.inbox.put_nowait(None)
        if self.server.closing:
            return
        if self._sending:
            self._note_unconsumed(next(iter(self._sending.values())), "the client disconnected during")
        elif self._last_turn is not None and isinstance(exc, ConnectionResetError | BrokenPipeError):
            # Closing a socket with unread data makes the kernel send an RST instead of a FIN.
            self._note_unconsumed(self._last_turn, "the client closed the connection with unread frames of")

    def _note_unconsumed(self, match: TurnMatch, problem: str) -> None:
        index = match.entry.index if match.entry is not None else None
        self.server.note_unconsumed("GET", self.target, index, f"{problem} WebSocket turn {match.number}")

    # --- answering --------------------------------------------------------------------

    async def _converse(self) -> None:
        if (wait := self.opened - time.monotonic()) > 0:
            await asyncio.sleep(wait)  # the accept is delayed: nothing may go out before it
        await self._send_frames(self.answer.greeting, self.opened)
        while (item := await self.inbox.get()) is not None:
            message, arrived = item
            await self._answer(message, arrived)

    async def _answer(self, message: str | bytes, arrived: float) -> None:
        server = self.server
        try:
            body = orjson.loads(message)
        except orjson.JSONDecodeError as err:
            self._send_error(400, "rec_bad_request", server.bad_websocket_message(self.route, f"not JSON ({err})"))
            return
        for log in self.logs:
            log.append(WebSocketRequest(body))
        kind = body.get("type") if isinstance(body, dict) else None
        is_create = kind == "response.create"
        if is_create:
            problem = server.check_invariants(self.route, body, self.conversation)
            if problem is not None:
                self._send_error(400, "rec_invariant_violation", problem)
                return
        match = server.take_turn(self, body)
        if isinstance(match, str):
            self._send_error(409, "rec_no_match", match)
            return
        if self.entry is None or server.matcher.mode == "sequence":
            self.cursor += 1
        if match.entry is not None:
            server.check_drift(self.route, match.entry, message, body, match.turn.body, turn=match.number)
        if kind in ("response.create", "response.steer"):
            self.conversation.remember(body, match.turn.served)
        server.count_served(self.route, match.entry, f"turn {match.number}")
        frames = rewrite_frames(match.turn, body, self._client_lane(body, match.turn))
        fault = server.take_fault(self.route, match.entry, match.number)
        # Each lane's turns go out in order; lanes do not wait for each other.
        lane = match.turn.lane
        self._lane_tasks[lane] = server.spawn(self._deliver(self._lane_tasks.get(lane), match, frames, fault,
                                                            arrived, self._was_last_turn()))

    def _client_lane(self, body: Any, turn: Turn) -> str | None:
        """The lane name the client uses for this turn's events (a steer names none: its response's lane)."""
        if isinstance(body, dict) and body.get("type") == "response.steer":
            return self.lanes.client_lane(turn.lane) if self.lanes is not None else turn.lane
        return message_lane(body)

    async def _deliver(self, previous: asyncio.Task[None] | None, match: TurnMatch, frames: list[ServerFrame],
                       fault: Fault | None, arrived: float, last: bool) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        if fault is not None:
            await self._send_faulted(match, frames, fault, arrived)
            return
        self._sending[match.turn.lane] = match
        await self._send_frames(frames, arrived)
        if self._sending.pop(match.turn.lane, None) is not None and not self.transport.is_closing():
            self._last_turn = match
        if last:
            current = asyncio.current_task()
            await asyncio.gather(*(t for t in self._lane_tasks.values() if t is not current), return_exceptions=True)
            await self._replay_close(arrived, match.turn.at_ms)

    async def _send_faulted(self, match: TurnMatch, frames: list[ServerFrame], fault: Fault, arrived: float) -> None:
        """A turn's first K frames, then the fault; the turn (or the connection) can be served again."""
        await self._send_frames(frames[:fault.after_event], arrived)
        if fault.action == "stall":
            await asyncio.sleep(fault.stall_ms / 1000.0)
            await self._send_frames(frames[fault.after_event:], arrived + fault.stall_ms / 1000.0)
            return
        if fault.action == "corrupt":
            self._send_text(CORRUPT_FRAME)
            await self._send_frames(frames[fault.after_event:], arrived)
            return
        self._give_back(match, whole_connection=fault.ends_connection)
        if fault.action == "error":
            self._send_text(orjson.dumps(fault.error_event()).decode())
        elif fault.action == "close":
            if self.ws.state is ConnectionState.OPEN and not self.transport.is_closing():
                self.transport.write(self.ws.send(CloseConnection(code=1000, reason="rec fault")))
        else:
            reset(self.transport)

    def _give_back(self, match: TurnMatch, whole_connection: bool) -> None:
        """Undo a faulted turn: the retry on this connection, or on a new one, gets it again."""
        matcher = self.server.matcher
        if self.entry is None or matcher.mode == "sequence":
            self.cursor -= 1
        if self.lanes is not None:
            self.lanes.give_back(match.number)
        if match.entry is None:
            return
        matcher.give_back(match.entry, match.number)
        if whole_connection and matcher.mode == "sequence":
            # The client reconnects to retry this turn: the new connection starts there.
            match.entry.resumes = True
            matcher.give_back(match.entry)

    def _was_last_turn(self) -> bool:
        # Only a conversation replayed in order knows when its recorded end has come.
        sequential = self.entry is None or self.server.matcher.mode == "sequence"
        return sequential and self.cursor == len(self.answer.turns)

    async def _replay_close(self, arrived: float, turn_at_ms: float) -> None:
        close = self.answer.close
        if close is None or close.by != "server" or self.ws.state is not ConnectionState.OPEN:
            return
        if self.server.pace is not None:
            await sleep_until(arrived, close.at_ms - turn_at_ms, self.server.pace)
        if self.ws.state is ConnectionState.OPEN and not self.transport.is_closing():
            self.transport.write(self.ws.send(CloseConnection(code=close.code or 1000, reason=close.reason)))

    async def _send_frames(self, frames: list[ServerFrame], start: float) -> None:
        pace = self.server.pace
        for frame in frames:
            if pace is not None:
                await sleep_until(start, frame.at_ms, pace)
            if self.ws.state is not ConnectionState.OPEN or self.transport.is_closing():
                return
            event = TextMessage(data=frame.payload.decode()) if frame.is_text else BytesMessage(data=frame.payload)
            self.transport.write(self.ws.send(event))

    def _send_error(self, status: int, code: str, message: str) -> None:
        event = {"type": "error", "status": status,
                 "error": {"type": "invalid_request_error", "code": code, "message": message}}
        self._send_text(orjson.dumps(event).decode())

    def _send_text(self, text: str) -> None:
        if self.ws.state is ConnectionState.OPEN and not self.transport.is_closing():
            self.transport.write(self.ws.send(TextMessage(data=text)))
