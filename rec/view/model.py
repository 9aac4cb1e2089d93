"""The page's data: each exchange of the cassettes as a list row and a detail (conversation, timeline, headers).

Exchanges are numbered across the files in the order given, as `rec replay` numbers
them, so a replay report's exchange numbers point at the same rows. Everything is
plain JSON, embedded once in the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rec.cassette import Cassette, Exchange, Headers, HttpExchange, Request, Response, WebSocketExchange
from rec.redaction import PLACEHOLDER
from rec.show import to_jsonable
from rec.sse import is_event_stream
from rec.view.conversation import (
    Assembly,
    assemble,
    from_body,
    input_items,
    item_text,
    last_user_text,
    request_facts,
)
from rec.view.stream import clip, decode, http_timeline, websocket_timeline

VIEW_VERSION = 1
PROMPT_CHARS = 160


@dataclass
class PageData:
    """Everything one page shows; ``to_json`` is what the front end reads."""

    title: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rec_view": VIEW_VERSION, "title": self.title, "sources": self.sources,
                "exchanges": self.exchanges, "report": self.report, "diff": self.diff}


def page_data(cassettes: list[Cassette], title: str | None = None) -> PageData:
    """The page for these cassettes, their exchanges numbered across files as the replayer numbers them."""
    data = PageData(title=title or ", ".join(Path(str(c.path)).name for c in cassettes) or "rec view")
    number = 0
    for source, cassette in enumerate(cassettes):
        data.sources.append(source_view(cassette))
        for exchange in cassette.exchanges:
            served = isinstance(exchange, HttpExchange | WebSocketExchange)
            data.exchanges.append(exchange_view(number if served else None, source, exchange))
            number += served
    return data


def source_view(cassette: Cassette) -> dict[str, Any]:
    header = cassette.header
    return {"path": str(cassette.path), "created_at": header.created_at, "rec_version": header.rec_version,
            "upstream": header.upstream, "metadata": to_jsonable(header.metadata), "warnings": cassette.warnings()}


def exchange_view(number: int | None, source: int, exchange: Exchange) -> dict[str, Any]:
    """One exchange: the fields of its list row, and ``detail`` for the pane that shows it."""
    if isinstance(exchange, HttpExchange):
        view = _http_view(exchange)
    elif isinstance(exchange, WebSocketExchange):
        view = _websocket_view(exchange)
    else:
        view = {"kind": exchange.kind, "route": "(a record of a type this rec does not know)", "status": "-",
                "outcome": "kept as is", "detail": {"record": clip(to_jsonable(exchange.to_record()))}}
    return {"n": number, "source": source, "marks": [], **view}


# --- HTTP ------------------------------------------------------------------------------


def _http_view(exchange: HttpExchange) -> dict[str, Any]:
    request, response, end = exchange.request, exchange.response, exchange.end
    streamed = response is not None and is_event_stream(response.header("content-type"))
    body = decode(request.content) if request.content else None
    timeline = http_timeline(exchange, streamed)
    answered = decode(response.body) if response is not None and not streamed else None
    served = (m.data for m in timeline.moments if m.lane == "server")
    answer = assemble(served) if streamed else from_body(answered)
    turn = _turn(body, answer)
    problem = None
    if response is None:
        problem = f"no response: {end.error or 'error'}"
    elif end.state == "error":
        problem = f"{end.error or 'error'} at {end.at_ms:.0f} ms" + (f": {end.message}" if end.message else "")
    status = str(response.status) if response is not None else "-"
    return {
        "kind": "sse" if streamed else "http",
        "route": f"{request.method} {request.path}",
        "status": status if problem is None or response is None else f"{status} {end.error or 'error'}",
        "model": _model(body, answer),
        "prompt": _clip_text(last_user_text(turn["input"])),
        "outcome": _outcome(answer, response, streamed, answered),
        "problem": problem,
        "duration": round(exchange.duration_ms, 3),
        "size": len(request.body) + (len(response.body) if response else 0),
        "events": sum(1 for m in timeline.moments if m.lane == "server"),
        "detail": {
            "request": _request_part(request, body),
            "response": _response_part(response, answered),
            "end": {"state": end.state, "error": end.error, "message": end.message, "at_ms": end.at_ms},
            "turns": [turn],
            "timeline": timeline.to_json(),
        },
    }


# --- WebSocket -------------------------------------------------------------------------


def _websocket_view(exchange: WebSocketExchange) -> dict[str, Any]:
    timeline = websocket_timeline(exchange)
    turns = []
    for number in range(sum(1 for f in exchange.frames if f.from_client)):
        sent = next(m for m in timeline.moments if m.lane == "client" and m.turn == number)
        answer = assemble(m.data for m in timeline.moments if m.lane == "server" and m.turn == number)
        turns.append(_turn(sent.data, answer))
    last = turns[-1] if turns else None
    close, cut = exchange.close, exchange.extra.get("cut")
    closed = f"close {close.code}" + (f" by {close.by}" if close.by else "") if close else "not closed"
    problem = str(cut) if cut else None
    if close is not None and close.code not in (1000, 1005, None):
        problem = f"closed with {close.code}" + (f": {close.reason}" if close.reason else "")
    produced = _outcome(_assembly_of(last), exchange.response, True) if last else "no turn"
    return {
        "kind": "ws",
        "route": f"WS {exchange.request.path}",
        "status": f"{exchange.response.status}" + (" cut" if cut else ""),
        "model": next((t["facts"].get("model") for t in reversed(turns) if t["facts"].get("model")), ""),
        "prompt": _clip_text(next((last_user_text(t["input"]) for t in reversed(turns)
                                   if last_user_text(t["input"])), "")),
        "outcome": f"{len(turns)} turn(s), {closed}; last: {produced}",
        "problem": problem,
        "duration": round(exchange.duration_ms, 3),
        "size": sum(len(f.payload) for f in exchange.frames),
        "events": sum(1 for m in timeline.moments if m.lane == "server"),
        "detail": {
            "request": _request_part(exchange.request, None),
            "response": _response_part(exchange.response, None),
            "extensions": exchange.extensions,
            "close": None if close is None else {"code": close.code, "reason": close.reason, "by": close.by,
                                                 "at_ms": close.at_ms},
            "turns": turns,
            "timeline": timeline.to_json(),
        },
    }


# --- shared pieces ---------------------------------------------------------------------


def _turn(body: Any, answer: Assembly) -> dict[str, Any]:
    """One request and its answer: the input items, what else the request said, and the output items."""
    return {"input": input_items(body), "facts": request_facts(body), "output": answer.output(),
            "response": answer.summary(), "ended": answer.terminal is not None}


def _assembly_of(turn: dict[str, Any]) -> Assembly:
    answer = Assembly(response=dict(turn["response"]), items=[o["item"] for o in turn["output"]],
                      done=[o["done"] for o in turn["output"]])
    answer.terminal = "known" if turn["ended"] else None
    return answer


def _model(body: Any, answer: Assembly) -> str:
    model = body.get("model") if isinstance(body, dict) else None
    return str(model or answer.response.get("model") or "")


def _outcome(answer: Assembly, response: Response | None, streamed: bool, body: Any = None) -> str:
    """What came back in a few words: the status, then the tools called or the start of the text."""
    if response is None:
        return "no response"
    error = answer.error or answer.response.get("error")
    status = str(answer.response.get("status") or ("no end event" if streamed and not answer.terminal else ""))
    if isinstance(error, dict):
        return f"{status or 'error'}: {error.get('code') or error.get('type') or error.get('message') or 'error'}"
    produced = ", ".join(_produced(item) for item in answer.items)
    if not status and not produced and isinstance(body, dict):  # not a Response: say what the body holds
        return ", ".join(f"{key}: {len(value)}" if isinstance(value, list) else key for key, value in body.items())
    return " · ".join(part for part in (status, produced) if part) or str(response.status)


def _produced(item: dict[str, Any]) -> str:
    kind = str(item.get("type", ""))
    if kind == "message":
        return f"“{_clip_text(item_text(item), 60)}”"
    if kind.endswith("_call") and item.get("name"):
        return f"{item['name']}()"
    return kind


def _request_part(request: Request, body: Any) -> dict[str, Any]:
    return {"method": request.method, "path": request.path, "query": [list(p) for p in request.query],
            "headers": _headers(request.headers), "size": len(request.body),
            "encoded": request.decoded_body is not None, "body": body}


def _response_part(response: Response | None, body: Any) -> dict[str, Any] | None:
    if response is None:
        return None
    return {"status": response.status, "reason": response.reason, "headers": _headers(response.headers),
            "size": len(response.body), "chunks": len(response.chunks), "body": body}


def _headers(headers: Headers) -> list[list[Any]]:
    """Name, value, and whether the recorder redacted the value (the page shows it as such)."""
    return [[name, value, PLACEHOLDER in value] for name, value in headers]


def _clip_text(text: str, limit: int = PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

