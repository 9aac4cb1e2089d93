"""The WebSocket wire adapter of the replay server, on wsproto.

Wire order for one connection: the 101 answer with the recorded headers (and
permessage-deflate when the client offers it and the recording had it), any frames the
server sent before the first client message, then for each client message the frames the
core planned (``WebSocketConversation.answer_message``) at their recorded offsets, and
after the last recorded turn the recorded server close. A message the core refuses gets
an ``error`` event and the connection stays open. Each lane's turns go out in order;
lanes do not wait for each other.
"""

from __future__ import annotations

import asyncio
import time
import zlib

import orjson
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, Request, TextMessage
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol
from wsproto.utilities import RemoteProtocolError

from rec.cassette import Headers
from replayer.answers import HEADER_ENCODING, HttpAnswer, reset
from replayer.core import ReplayCore, TurnPlan, WebSocketConversation
from replayer.errors import Refused, internal_error
from replayer.faults import CORRUPT_FRAME, Fault, play
from replayer.flow import Flow
from replayer.hub import Hub
from replayer.pacing import send_paced, sleep_until
from replayer.recorded import TurnMatch
from replayer.turns import ServerFrame

# Client messages read ahead of the one being answered: past the first, reading stops until the
# second number are left (replayer.flow), so a flooding client holds a few, not millions.
_INBOX_HIGH, _INBOX_LOW = 64, 16
# How long a connection closed for the client's fault waits for the client to hang up (replayer.websocket._abandon).
_LINGER = 5.0


class _BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that stops inflating a message past the size limit (close 1009), not at 5 GB."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._inflated = 0

    def frame_inbound_payload_data(self, proto: FrameDecoder | FrameProtocol, data: bytes) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        assert self._decompressor is not None
        try:
            # One byte over the room left is enough to know the message is too big.
            inflated = self._decompressor.decompress(bytes(data), self.limit - self._inflated + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(inflated)
        if self._inflated > self.limit:
            return CloseReason.MESSAGE_TOO_BIG
        return inflated

    def frame_inbound_complete(self, proto: FrameDecoder | FrameProtocol, fin: bool) -> bytes | CloseReason | None:
        if fin:
            self._inflated = 0
        return super().frame_inbound_complete(proto, fin)


def open_websocket(core: ReplayCore, hub: Hub, transport: asyncio.Transport, flow: Flow, method: str, target: str,
                   headers: Headers) -> WebSocketConnection | HttpAnswer:
    """Accept an upgrade the core has a conversation for, or the HTTP answer that refuses it."""
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.receive_data(_handshake_bytes(method, target, headers))
        if not any(isinstance(event, Request) for event in ws.events()):
            raise ValueError("not a WebSocket handshake")
    except Exception as err:  # wsproto rejects a malformed handshake in several ways
        return core.refuse_handshake(target, str(err))
    conversation = core.open_session(method, target, headers)
    if isinstance(conversation, HttpAnswer):
        return conversation
    return WebSocketConnection(hub, ws, transport, flow, conversation)


def _handshake_bytes(method: str, target: str, headers: Headers) -> bytes:
    """The upgrade request as it came on the wire, rebuilt from its parsed parts for wsproto."""
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class WebSocketConnection:
    """One client's WebSocket connection: frames in, the conversation's planned frames out."""

    def __init__(self, hub: Hub, ws: WSConnection, transport: asyncio.Transport, flow: Flow,
                 conversation: WebSocketConversation) -> None:
        self.hub = hub
        self.ws = ws
        self.transport = transport
        self.flow = flow
        self.conversation = conversation
        self.ending = False  # closed by us for the client's fault: what it still sends is read and dropped
        self.pace = conversation.core.pace
        self.max_message = hub.limits.websocket_message
        answer = conversation.answer
        extensions: list[Extension] = [_BoundedDeflate(self.max_message)] if answer.deflate else []
        extra = [(name.encode(HEADER_ENCODING), value.encode(HEADER_ENCODING)) for name, value in answer.headers]
        accept = ws.send(AcceptConnection(extensions=extensions, extra_headers=extra))
        # Negotiated only when the client offered it too; compressed frames are wsproto's to make.
        self.deflate = bool(extensions) and extensions[0].enabled()
        delay = answer.accept_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, transport.write, accept)
        else:
            transport.write(accept)
        self.opened = time.monotonic() + delay
        self.inbox: asyncio.Queue[tuple[str | bytes, float] | None] = asyncio.Queue()
        self._lane_tasks: dict[str | None, asyncio.Task[None]] = {}
        # Turns being sent now (per lane) and the last sent whole, to tell a client that left early.
        self._sending: dict[str | None, TurnMatch] = {}
        self._last_turn: TurnMatch | None = None
        self._parts: list[str | bytes | bytearray] = []
        self._parts_size = 0
        hub.spawn(self._converse())

    # --- reading ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.ending:
            return
        try:
            self._receive(data)
        except RemoteProtocolError as err:
            # RFC 6455: a protocol error closes with 1002, bad UTF-8 in a text message with 1007 (wsproto's hint).
            hint = err.event_hint
            self._abandon(hint.code if isinstance(hint, CloseConnection) else 1002, str(err))

    def _abandon(self, code: int, reason: str) -> None:
        """Close with ``code``: the client broke the protocol or a limit.

        The close frame goes out with a FIN after it, and what the client still sends is read and dropped
        until it hangs up (or ``_LINGER`` seconds pass): a socket closed with unread data sends an RST, and
        a client mid-way through a 100 MB message would get a reset instead of the close that says why.
        """
        self.send_close(code, reason[:120])  # a close reason fits in a control frame (125 bytes)
        self.ending = True
        self.inbox.put_nowait(None)
        self.flow.close()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER, self.transport.close)

    def _receive(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data)
                self._parts_size += len(event.data)
                if self._parts_size > self.max_message:
                    self._abandon(1009, f"message over {self.max_message} bytes (--limit websocket_message)")
                    return
                if event.message_finished:
                    parts, self._parts, self._parts_size = self._parts, [], 0
                    message = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)  # type: ignore[arg-type]  # one message's parts are all text or all bytes
                    self.inbox.put_nowait((message, time.monotonic()))
                    if self.inbox.qsize() >= _INBOX_HIGH:
                        self.flow.hold("inbox")  # answered one at a time: read on when they are
            elif isinstance(event, Ping) and self.ws.state is ConnectionState.OPEN:
                self._write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.ws.state is not ConnectionState.REMOTE_CLOSING:
                    # wsproto's own verdict on bad frames (1002, 1007, 1009): say why before hanging up.
                    self._abandon(event.code, event.reason or "")
                    return
                self.transport.write(self.ws.send(event.response()))
                self.transport.close()
                self.inbox.put_nowait(None)

    def connection_lost(self, exc: Exception | None = None) -> None:
        self.inbox.put_nowait(None)
        if self.ending:
            return  # closed for the client's fault: nothing it left unread is its doing
        if self.hub.closing:
            return
        if self._sending:
            self.conversation.note_unconsumed(next(iter(self._sending.values())), "the client disconnected during")
        elif self._last_turn is not None and isinstance(exc, ConnectionResetError | BrokenPipeError):
            # Closing a socket with unread data makes the kernel send an RST instead of a FIN.
            self.conversation.note_unconsumed(self._last_turn, "the client closed the connection with unread "
                                                               "frames of")

    # --- answering --------------------------------------------------------------------

    async def _converse(self) -> None:
        if (wait := self.opened - time.monotonic()) > 0:
            await asyncio.sleep(wait)  # the accept is delayed: nothing may go out before it
        await send_paced(self._timed(self.conversation.answer.greeting), self.send_frame, self.pace, self.opened)
        while (item := await self.inbox.get()) is not None:
            if self.inbox.qsize() <= _INBOX_LOW:
                self.flow.release("inbox")
            message, arrived = item
            try:
                plan = self.conversation.answer_message(message)
            except Refused as refused:
                self.send_text(orjson.dumps(refused.event()).decode())
            except Exception as err:  # rec's own failure: said on the connection, which stays open
                failed = internal_error("a WebSocket message to", self.conversation.target, err)
                self.send_text(orjson.dumps(failed.event()).decode())
            else:
                lane = plan.match.turn.lane
                if not self._deliver_now(plan):
                    self._lane_tasks[lane] = self.hub.spawn(self._deliver(self._lane_tasks.get(lane), plan, arrived))
            # One message at a time, then the other connections' turn; and nothing more for a client that
            # is not reading what it was sent (replayer.flow).
            await asyncio.sleep(0)
            await self.flow.writable()

    def _deliver_now(self, plan: TurnPlan) -> bool:
        """Send a turn at once when nothing makes it wait (no pacing, no fault, no deflate, no lane busy or
        still sending): the common case costs no task. False when it must go through ``_deliver``."""
        busy = any(not task.done() for task in self._lane_tasks.values())
        if self.pace or self.deflate or plan.fault is not None or busy:
            return False
        self._write_frames(plan.frames)
        if not self.transport.is_closing():
            self._last_turn = plan.match
        close = self.conversation.answer.close
        if plan.last and close is not None and close.by == "server":
            self.send_close(close.code or 1000, close.reason)
        return True

    async def _deliver(self, previous: asyncio.Task[None] | None, plan: TurnPlan, arrived: float) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        match, frames = plan.match, self._timed(plan.frames)
        if plan.fault is not None:
            if not await play(frames, plan.fault, _FrameSink(self), self.pace, arrived):
                # The client's retry, on this connection or a new one, gets the turn again.
                self.conversation.give_back(match, whole_connection=plan.fault.ends_connection)
            return
        self._sending[match.turn.lane] = match
        if not self.pace and not self.deflate:
            self._write_frames(plan.frames)  # nothing to wait for: the whole turn in one write
        else:
            await send_paced(frames, self.send_frame, self.pace, arrived)
        if self._sending.pop(match.turn.lane, None) is not None and not self.transport.is_closing():
            self._last_turn = match
        if plan.last:
            current = asyncio.current_task()
            await asyncio.gather(*(t for t in self._lane_tasks.values() if t is not current), return_exceptions=True)
            await self._replay_close(arrived, match.turn.at_ms)

    async def _replay_close(self, arrived: float, turn_at_ms: float) -> None:
        close = self.conversation.answer.close
        if close is None or close.by != "server" or self.ws.state is not ConnectionState.OPEN:
            return
        if self.pace is not None:
            await sleep_until(arrived, close.at_ms - turn_at_ms, self.pace)
        self.send_close(close.code or 1000, close.reason)

    @staticmethod
    def _timed(frames: list[ServerFrame]) -> list[tuple[float, ServerFrame]]:
        return [(frame.at_ms, frame) for frame in frames]

    def send_frame(self, frame: ServerFrame) -> bool:
        if frame.is_text:
            return self.send_text(frame.payload.decode())
        return self._write_event(BytesMessage(data=frame.payload))

    def _write_frames(self, frames: list[ServerFrame]) -> None:
        """Frames framed here, not by wsproto: a server's frames are never masked (RFC 6455 5.1), so the
        bytes are the header and the payload; one write for them all."""
        if self.ws.state is not ConnectionState.OPEN or self.transport.is_closing():
            return
        self.transport.write(b"".join(_frame_bytes(frame) for frame in frames))

    def send_text(self, text: str) -> bool:
        return self._write_event(TextMessage(data=text))

    def _write_event(self, event: TextMessage | BytesMessage) -> bool:
        if self.ws.state is not ConnectionState.OPEN or self.transport.is_closing():
            return False
        self.transport.write(self.ws.send(event))
        return True

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def send_close(self, code: int, reason: str | None) -> None:
        if self.ws.state is ConnectionState.OPEN and not self.transport.is_closing():
            self.transport.write(self.ws.send(CloseConnection(code=code, reason=reason)))


def _frame_bytes(frame: ServerFrame) -> bytes:
    """One unmasked, unfragmented data frame: FIN and the opcode (text 1, binary 2), the length, the payload."""
    payload = frame.payload
    first = 0x81 if frame.is_text else 0x82
    length = len(payload)
    if length < 126:
        return bytes((first, length)) + payload
    if length < 65536:
        return bytes((first, 126)) + length.to_bytes(2, "big") + payload
    return bytes((first, 127)) + length.to_bytes(8, "big") + payload


class _FrameSink:
    """Faults on a WebSocket turn: an error is an `error` event; a close is a close frame 1000."""

    def __init__(self, connection: WebSocketConnection) -> None:
        self.connection = connection

    def send_event(self, frame: ServerFrame) -> bool:
        return self.connection.send_frame(frame)

    def send_error(self, fault: Fault) -> None:
        self.connection.send_text(orjson.dumps(fault.error_event()).decode())

    def send_corrupt(self) -> None:
        self.connection.send_text(CORRUPT_FRAME)

    def end(self) -> None:
        self.connection.send_close(1000, "rec fault")

    def reset(self) -> None:
        reset(self.connection.transport)

    async def complete(self) -> bool:
        return not self.connection.transport.is_closing()
