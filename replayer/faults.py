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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from replayer.pacing import send_paced

Action = Literal["reset", "close", "error", "stall", "corrupt"]
ACTIONS = ("reset", "close", "error=CODE", "stall=MS", "corrupt")
CORRUPT_EVENT = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n'
# One recorded event as a transport sends it: SSE event bytes, a WebSocket frame.
Event = TypeVar("Event", contravariant=True)
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


class FaultSink(Protocol[Event]):
    """How one transport speaks a fault: the SSE stream, the whole HTTP body, the WebSocket."""

    def send_event(self, event: Event) -> bool:
        """Send one recorded event (SSE event, WebSocket frame); False once the peer is gone."""
        ...

    def send_error(self, fault: Fault) -> None:
        """The error the transport speaks for ``error=CODE``."""
        ...

    def send_corrupt(self) -> None:
        """Something that is not valid JSON where an event (or a body) should be."""
        ...

    def end(self) -> None:
        """End cleanly before the recorded end (``close``)."""
        ...

    def reset(self) -> None:
        """Abort the connection with a TCP RST (``reset``)."""
        ...

    async def complete(self) -> bool:
        """Finish after the last event as recorded; whether the answer reached the client whole."""
        ...


async def play(events: Sequence[tuple[float, Event]], fault: Fault, sink: FaultSink[Event], pace: float | None,
               start: float) -> bool:
    """Send recorded ``(offset_ms, event)``s with ``fault`` after the first K; the one dispatch of fault actions.

    Returns whether the recorded answer went out whole (only a stall the client waited out):
    the caller gives the exchange back for the client's retry otherwise.
    """
    cut = fault.after_event
    if not await send_paced(events[:cut], sink.send_event, pace, start):
        return False
    if fault.action == "reset":
        sink.reset()
        return False
    if fault.action == "close":
        sink.end()
        return False
    if fault.action == "error":
        sink.send_error(fault)
        return False
    if fault.action == "stall":
        await asyncio.sleep(fault.stall_ms / 1000.0)
        start += fault.stall_ms / 1000.0
    else:
        sink.send_corrupt()
    if not await send_paced(events[cut:], sink.send_event, pace, start):
        return False
    whole = await sink.complete()
    return whole and fault.action == "stall"
