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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from replayer.errors import error_event
from replayer.pacing import send_paced

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
    action: str  # a name in ACTIONS
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
        return error_event(self.status, self.code, self.error_message())


def parse_fault(spec: str) -> Fault:
    """A Fault from its spec; FaultSpecError names the part that is wrong."""
    syntax = f"EXCHANGE[.TURN]:after-event=K:{ACTION_SYNTAX}[:times=N]"
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
    name, _, argument = what.partition("=")
    action = ACTIONS.get(name)
    if action is None or bool(argument) != (action.argument is not None):
        raise FaultSpecError(f"fault {spec!r}: unknown action {what!r}; use one of {ACTION_SYNTAX.replace('|', ', ')}")
    fault = Fault(exchange=exchange, turn=turn, after_event=after, action=name, spec=spec)
    if action.takes is not None:
        action.takes(fault, spec, argument)
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
    action = ACTIONS[fault.action]
    await action.act(sink, fault)
    if not action.then_rest:
        return False
    start += fault.stall_ms / 1000.0  # a stall shifts the rest of the recorded pacing
    if not await send_paced(events[cut:], sink.send_event, pace, start):
        return False
    whole = await sink.complete()
    return whole and action.delivers


# --- the actions: one entry each ------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A fault action: its name, the argument it takes after ``=``, what it does, and what follows it."""

    name: str
    argument: str | None  # ``CODE`` in error=CODE; None for an action without one
    act: Callable[[FaultSink[Any], Fault], Awaitable[None]]
    then_rest: bool = False  # the rest of the recorded events follow (else the answer ends there)
    delivers: bool = False  # the client still gets the whole recorded answer (it is not given back)
    takes: Callable[[Fault, str, str], None] | None = None  # stores the argument on the fault


async def _reset(sink: FaultSink[Any], fault: Fault) -> None:
    sink.reset()


async def _close(sink: FaultSink[Any], fault: Fault) -> None:
    sink.end()


async def _error(sink: FaultSink[Any], fault: Fault) -> None:
    sink.send_error(fault)


async def _stall(sink: FaultSink[Any], fault: Fault) -> None:
    await asyncio.sleep(fault.stall_ms / 1000.0)


async def _corrupt(sink: FaultSink[Any], fault: Fault) -> None:
    sink.send_corrupt()


def _take_code(fault: Fault, spec: str, argument: str) -> None:
    fault.code = argument


def _take_ms(fault: Fault, spec: str, argument: str) -> None:
    fault.stall_ms = float(_number(spec, argument, "MS in stall=MS"))


ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action("reset", None, _reset),  # a TCP RST
    Action("close", None, _close),  # a clean end before the recorded one (a close frame 1000 on a WebSocket)
    Action("error", "CODE", _error, takes=_take_code),  # response.failed / an error event / an error status
    Action("stall", "MS", _stall, then_rest=True, delivers=True, takes=_take_ms),  # a pause, then the rest
    Action("corrupt", None, _corrupt, then_rest=True),  # an event that is not JSON, then the rest
)}
ACTION_SYNTAX = "|".join(f"{a.name}={a.argument}" if a.argument else a.name for a in ACTIONS.values())
