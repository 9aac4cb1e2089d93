"""Faults at a chosen point of a recorded stream, for testing a client's retry logic.

Spec: ``EXCHANGE[.TURN]:after-event=K:ACTION[:times=N]``

- ``EXCHANGE``: a recorded exchange's index (as ``rec show`` numbers them) or ``*`` for
  every exchange; ``.TURN`` narrows a WebSocket exchange to one turn (default: every turn).
- ``after-event=K``: the first K events (SSE events, or server frames of a WebSocket
  turn) go out as recorded, then the fault.
- ``ACTION``: ``reset`` (TCP RST), ``close`` (the stream ends cleanly, before
  ``response.completed``; on a WebSocket, a close frame 1000), ``error=CODE`` (a
  ``response.failed`` event over SSE, an ``error`` event over a WebSocket, with that
  code; a numeric CODE is also the error's HTTP status), ``stall=MS`` (a pause, then the
  rest as recorded), ``corrupt`` (an event that is not valid JSON, then the rest).
- ``times=N``: how many serves of the exchange get the fault (default 1). A faulted
  serve does not use the exchange up: the client's retry gets the recorded answer.

A non-streamed answer (JSON: /models, compact) has no events: ``reset``/``close`` hang
up instead of answering, ``error=CODE`` answers an OpenAI error with status CODE (500
when CODE is not a number), ``stall`` delays it, ``corrupt`` sends a body that is not JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from rec.sse import split_events
from replayer.answers import HttpAnswer, StreamAnswer, http_chunk, reset, sleep_until

Action = Literal["reset", "close", "error", "stall", "corrupt"]
ACTIONS = ("reset", "close", "error=CODE", "stall=MS", "corrupt")
CORRUPT_EVENT = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n'
CORRUPT_FRAME = '{"type": "response.output_text.delta", "delta": '


class FaultSpecError(ValueError):
    """A fault spec rec cannot read; the message names the bad part and the syntax."""


@dataclass
class Fault:
    """One fault: where (exchange, turn), when (after K events), what, and how many more times."""

    exchange: int | None
    after_event: int
    action: Action
    turn: int | None = None
    code: str = "server_error"
    stall_ms: float = 0.0
    times: int = 1
    spec: str = field(default="", compare=False)

    def selects(self, exchange: int | None, turn: int | None = None) -> bool:
        if self.times <= 0 or (self.exchange is not None and self.exchange != exchange):
            return False
        return self.turn is None or turn is None or self.turn == turn

    @property
    def status(self) -> int | None:
        return int(self.code) if self.code.isdigit() else None

    @property
    def ends_connection(self) -> bool:
        return self.action in ("reset", "close")

    def error_message(self) -> str:
        return f"rec fault ({self.spec}): the replayer injected this error"

    def failed_event(self, response_id: str | None) -> dict[str, Any]:
        """The `response.failed` event an SSE stream gets for error=CODE."""
        error = {"code": self.code, "message": self.error_message()}
        return {"type": "response.failed",
                "response": {"id": response_id or "resp_rec_fault", "object": "response", "status": "failed",
                             "error": error, "output": []}}

    def error_event(self) -> dict[str, Any]:
        """The `error` event a WebSocket gets for error=CODE (as the API sends it, status when numeric)."""
        event: dict[str, Any] = {"type": "error",
                                 "error": {"type": "server_error", "code": self.code, "message": self.error_message()}}
        if self.status is not None:
            event["status"] = self.status
        return event


def parse_fault(spec: str) -> Fault:
    """A Fault from its spec; FaultSpecError names the part that is wrong."""
    syntax = "EXCHANGE[.TURN]:after-event=K:reset|close|error=CODE|stall=MS|corrupt[:times=N]"
    parts = spec.strip().split(":")
    if len(parts) not in (3, 4):
        raise FaultSpecError(f"fault {spec!r}: expected {syntax}")
    where, when, what, *rest = parts
    exchange_text, _, turn_text = where.partition(".")
    exchange = None if exchange_text == "*" else _number(spec, exchange_text, "EXCHANGE (an index or *)")
    turn = _number(spec, turn_text, "TURN") if turn_text else None
    name, _, value = when.partition("=")
    if name != "after-event":
        raise FaultSpecError(f"fault {spec!r}: {when!r} should be after-event=K")
    after = _number(spec, value, "K in after-event=K")
    action, _, argument = what.partition("=")
    fault = Fault(exchange=exchange, turn=turn, after_event=after, action="reset", spec=spec)
    if action in ("reset", "close", "corrupt") and not argument:
        fault.action = action  # type: ignore[assignment]
    elif action == "error" and argument:
        fault.action, fault.code = "error", argument
    elif action == "stall" and argument:
        fault.action, fault.stall_ms = "stall", float(_number(spec, argument, "MS in stall=MS"))
    else:
        raise FaultSpecError(f"fault {spec!r}: unknown action {what!r}; use one of {', '.join(ACTIONS)}")
    if rest:
        name, _, value = rest[0].partition("=")
        if name != "times":
            raise FaultSpecError(f"fault {spec!r}: {rest[0]!r} should be times=N")
        fault.times = _number(spec, value, "N in times=N")
    return fault


def _number(spec: str, text: str, what: str) -> int:
    if not text.isdigit():
        raise FaultSpecError(f"fault {spec!r}: {what} must be a whole number >= 0, got {text!r}")
    return int(text)


class FaultedStream(HttpAnswer):
    """A recorded SSE answer re-cut at event boundaries, with the fault after event K.

    The exchange is given back (``give_back``) before anything is sent, so a client that
    retries at once finds it; a stall the client waits out takes it again (``reclaim``).
    """

    def __init__(self, inner: StreamAnswer, fault: Fault, give_back: Callable[[], None],
                 reclaim: Callable[[], None]) -> None:
        response = inner.response
        assert response is not None
        self.fault = fault
        self.give_back = give_back
        self.reclaim = reclaim
        self.status = response.status
        self.head = inner.head
        # Each event goes out when its last byte did in the recording.
        ends, offset = [], 0
        for at, data in response.chunks:
            offset += len(data)
            ends.append((offset, at))
        self.events: list[tuple[float, bytes]] = []
        position = 0
        for event in split_events(response.body):
            position += len(event.raw)
            at = next((at for end, at in ends if end >= position), ends[-1][1] if ends else 0.0)
            self.events.append((at, event.raw))
        self.response_id = inner.served.response_id

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        self.give_back()
        delivered = await self._send(transport, pace, start)
        if delivered:
            self.reclaim()
        return delivered and not transport.is_closing()

    async def _send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        """Whether the recorded answer went out whole (a stall that the client waited out)."""
        transport.write(self.head)
        fault, cut = self.fault, self.fault.after_event
        if not await _send_events(transport, self.events[:cut], pace, start):
            return False
        if fault.action == "reset":
            reset(transport)
            return False
        if fault.action == "close":
            transport.write(b"0\r\n\r\n")
            return False
        if fault.action == "error":
            event = b"event: response.failed\ndata: " + orjson.dumps(fault.failed_event(self.response_id)) + b"\n\n"
            transport.write(http_chunk(event) + b"0\r\n\r\n")
            return False
        if fault.action == "stall":
            await asyncio.sleep(fault.stall_ms / 1000.0)
            start += fault.stall_ms / 1000.0
        else:
            transport.write(http_chunk(CORRUPT_EVENT))
        if not await _send_events(transport, self.events[cut:], pace, start):
            return False
        transport.write(b"0\r\n\r\n")
        return fault.action == "stall"


async def _send_events(transport: asyncio.Transport, events: list[tuple[float, bytes]], pace: float | None,
                       start: float) -> bool:
    for at, raw in events:
        if pace is not None:
            await sleep_until(start, at, pace)
        if transport.is_closing():
            return False
        transport.write(http_chunk(raw))
    return True


class FaultedBody(HttpAnswer):
    """A non-streamed answer under a fault: hang up, an error status, a delay, or a body that is not JSON."""

    def __init__(self, inner: HttpAnswer, fault: Fault, give_back: Callable[[], None],
                 reclaim: Callable[[], None]) -> None:
        self.inner = inner
        self.fault = fault
        self.give_back = give_back
        self.reclaim = reclaim
        self.status = (fault.status or 500) if fault.action == "error" else inner.status

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        fault = self.fault
        self.give_back()
        if fault.action == "stall":
            await asyncio.sleep(fault.stall_ms / 1000.0)
            if transport.is_closing():
                return False
            self.reclaim()
            return await self.inner.send(transport, pace, start + fault.stall_ms / 1000.0)
        if fault.action == "reset":
            reset(transport)
            return False
        if fault.action == "close":
            transport.close()
            return False
        if fault.action == "error":
            body = orjson.dumps({"error": {"type": "server_error", "code": fault.code,
                                           "message": fault.error_message(), "param": None}})
        else:
            body = CORRUPT_FRAME.encode()
        head = f"HTTP/1.1 {self.status} rec fault\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        transport.write(head.encode() + b"\r\n" + body)
        return True


def faulted_answer(inner: HttpAnswer, fault: Fault, give_back: Callable[[], None],
                   reclaim: Callable[[], None]) -> HttpAnswer:
    """The answer to serve instead of ``inner`` under ``fault``."""
    if isinstance(inner, StreamAnswer) and inner.response is not None:
        return FaultedStream(inner, fault, give_back, reclaim)
    return FaultedBody(inner, fault, give_back, reclaim)
