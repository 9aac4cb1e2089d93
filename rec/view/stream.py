"""An exchange's traffic as moments on a timeline: each SSE event or WebSocket frame at its recorded time.

An SSE event is placed at the time of the chunk that brought its last byte (when a client
could act on it). Marks say what a reader looks for first: the time to the first event,
the total, a cut or an error, a close, and pauses far longer than the stream's usual pace.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from rec.cassette import HttpExchange, Response, WebSocketExchange
from rec.sse import split_events

Lane = Literal["client", "server"]

# A pause between two events is a gap worth marking when it is this long and this many times the usual one.
GAP_MIN_MS = 500.0
GAP_TIMES_USUAL = 5.0
# Strings longer than this (an image's base64, a huge tool output) are cut on the page; `rec show --json` has them.
MAX_STRING = 64 * 1024
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass
class Moment:
    """One event or frame: when, which way, what it is called, how big, and its content."""

    at_ms: float
    lane: Lane
    label: str
    size: int
    data: Any = None
    turn: int | None = None
    # Where the content lives when it is shown elsewhere on the page ("request": the request body).
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.at_ms, 3), "lane": self.lane, "label": self.label, "size": self.size}
        for key, value in (("data", self.data), ("turn", self.turn), ("ref", self.ref)):
            if value is not None:
                out[key] = value
        return out


@dataclass
class Timeline:
    moments: list[Moment] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"duration": round(self.duration_ms, 3), "moments": [m.to_json() for m in self.moments],
                "marks": self.marks}


def decode(payload: bytes) -> Any:
    """JSON when it parses, else the text, else a note of the binary size; strings past MAX_STRING cut."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            value = payload.decode("utf-8")
        except UnicodeDecodeError:
            return {"binary_bytes": len(payload)}
    return clip(value) if len(payload) > MAX_STRING else value  # a smaller payload holds no longer string


def clip(value: Any) -> Any:
    """The value with every string over MAX_STRING cut, saying how much was left out."""
    if isinstance(value, str):
        if len(value) <= MAX_STRING:
            return value
        return value[:MAX_STRING] + f"… [{len(value) - MAX_STRING} more characters not shown]"
    if isinstance(value, dict):
        return {k: clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v) for v in value]
    return value


def _label(data: Any, fallback: str) -> str:
    return str(data["type"]) if isinstance(data, dict) and isinstance(data.get("type"), str) else fallback


def sse_moments(response: Response) -> list[Moment]:
    """Each event of an SSE body at the time of the chunk that completed it; a torn last event too."""
    body = b"".join(chunk for _, chunk in response.chunks)
    ends, total = [], 0
    for _, chunk in response.chunks:
        total += len(chunk)
        ends.append(total)

    def time_at(offset: int) -> float:
        return response.chunks[min(bisect.bisect_right(ends, offset), len(ends) - 1)][0]

    moments, start = [], 0
    blocks = [end.end() for end in _EVENT_END.finditer(body)]
    if blocks[-1:] != [len(body)] and body:
        blocks.append(len(body))  # a last event the stream never finished
    for stop in blocks:
        block = body[start:stop]
        events = split_events(block)
        data: Any = None
        if events:
            if events[0].data is not None:
                data = decode(events[0].data.encode())
            label = events[0].event or _label(data, "message")
        else:
            data, label = block.decode("utf-8", errors="replace"), "(comment)"
        torn = stop == len(body) and not _EVENT_END.search(block)
        moments.append(Moment(time_at(stop - 1), "server", label + (" (torn)" if torn else ""), len(block), data))
        start = stop
    return moments


def http_timeline(exchange: HttpExchange, streamed: bool) -> Timeline:
    request = exchange.request
    moments = [Moment(0.0, "client", f"{request.method} {request.path}", len(request.body), ref="request")]
    response = exchange.response
    if response is not None and streamed:
        moments += sse_moments(response)
    elif response is not None:
        single = len(response.chunks) == 1
        moments += [Moment(at, "server", "body" if single else f"body chunk {n}", len(data),
                           decode(data) if single else None, ref="response" if not single else None)
                    for n, (at, data) in enumerate(response.chunks)]
    timeline = Timeline(moments, duration_ms=exchange.duration_ms)
    served = [m for m in moments if m.lane == "server"]
    if served:
        timeline.marks.append({"kind": "ttfe", "t": served[0].at_ms, "from": 0.0,
                               "label": f"first {'event' if streamed else 'byte'} {served[0].at_ms:.0f} ms"})
    timeline.marks += _gaps(served)
    end = exchange.end
    if end.state == "error":
        what = end.error or "error"
        words = f"{what}: {end.message}" if end.message else what
        timeline.marks.append({"kind": "cut", "t": end.at_ms, "label": words})
    timeline.marks.append({"kind": "total", "t": timeline.duration_ms, "label": f"total {timeline.duration_ms:.0f} ms"})
    return timeline


def websocket_timeline(exchange: WebSocketExchange) -> Timeline:
    """Frames both ways, numbered by turn (a client message and the server frames after it)."""
    moments, turn = [], -1
    for frame in exchange.frames:
        if frame.from_client:
            turn += 1
        data = decode(frame.payload) if frame.is_text else {"binary_bytes": len(frame.payload)}
        moments.append(Moment(frame.at_ms, "client" if frame.from_client else "server",
                              _label(data, "text" if frame.is_text else "binary"), len(frame.payload), data,
                              max(turn, 0)))
    timeline = Timeline(moments, duration_ms=exchange.duration_ms)
    for number in range(turn + 1):
        sent = next(m for m in moments if m.lane == "client" and m.turn == number)
        answers = [m for m in moments if m.lane == "server" and m.turn == number]
        if answers:
            wait = answers[0].at_ms - sent.at_ms
            timeline.marks.append({"kind": "ttfe", "t": answers[0].at_ms, "from": sent.at_ms, "turn": number,
                                   "label": f"turn {number}: first event {wait:.0f} ms"})
        timeline.marks += _gaps(answers)
    cut = exchange.extra.get("cut")
    if cut:
        timeline.marks.append({"kind": "cut", "t": timeline.duration_ms, "label": str(cut)})
    close = exchange.close
    if close is not None:
        by = f" by {close.by}" if close.by else ""
        timeline.marks.append({"kind": "close", "t": close.at_ms,
                               "label": f"close {close.code if close.code is not None else '-'}{by}"})
    timeline.marks.append({"kind": "total", "t": timeline.duration_ms, "label": f"total {timeline.duration_ms:.0f} ms"})
    return timeline


def _gaps(moments: list[Moment]) -> list[dict[str, Any]]:
    """Pauses between consecutive events at least GAP_MIN_MS long and GAP_TIMES_USUAL times the median pause."""
    pairs = list(itertools.pairwise(moments))
    if not pairs:
        return []
    usual = sorted(b.at_ms - a.at_ms for a, b in pairs)[len(pairs) // 2]  # the median pause
    return [{"kind": "gap", "from": a.at_ms, "t": b.at_ms, "label": f"gap {b.at_ms - a.at_ms:.0f} ms"}
            for a, b in pairs if b.at_ms - a.at_ms >= max(GAP_MIN_MS, GAP_TIMES_USUAL * usual)]
