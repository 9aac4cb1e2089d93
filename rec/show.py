"""`rec show`: a cassette as a table of exchanges, or as JSON for humans, scripts and git diff."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from rec.cassette import Exchange, Header, HttpExchange, WebSocketExchange
from rec.sse import is_event_stream, split_events

BASE64_MARKER = "$base64"


def bytes_to_json(data: bytes) -> str | dict[str, str]:
    """UTF-8 text where valid; otherwise {"$base64": ...} so the bytes survive exactly."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {BASE64_MARKER: base64.b64encode(data).decode("ascii")}


def to_jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes_to_json(bytes(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def exchange_to_json(index: int, exchange: Exchange) -> dict[str, Any]:
    return {"index": index, **to_jsonable(exchange.to_record())}


def render_json(header: Header, exchanges: Iterable[Exchange]) -> Iterable[str]:
    """A JSON document, yielded piece by piece so a large cassette is never held whole."""
    yield '{\n"header": ' + json.dumps(to_jsonable(header.to_record()), indent=2, sort_keys=True)
    yield ',\n"exchanges": ['
    for index, exchange in enumerate(exchanges):
        prefix = "\n" if index == 0 else ",\n"
        yield prefix + json.dumps(exchange_to_json(index, exchange), indent=2, sort_keys=True)
    yield "\n]\n}\n"


def _events_or_frames(exchange: Exchange) -> str:
    if isinstance(exchange, HttpExchange):
        response = exchange.response
        if response is None:
            return "-"
        if is_event_stream(response.header("content-type")):
            return f"{len(split_events(response.body))} events"
        return f"{len(response.chunks)} chunks"
    if isinstance(exchange, WebSocketExchange):
        sent = sum(1 for f in exchange.frames if f.from_client)
        return f"{len(exchange.frames)} frames ({sent} in)"
    return "-"


def summary_row(index: int, exchange: Exchange) -> list[str]:
    """One table row: index, kind, what, status, events or frames, duration, bytes."""
    if isinstance(exchange, HttpExchange):
        request, response = exchange.request, exchange.response
        what = f"{request.method} {request.path}"
        if response is None:
            status = f"error:{exchange.end.error or 'no response'}"
        elif exchange.end.state == "error":
            # How the stream ended early: "cut", "reset", "timeout", ...
            status = f"{response.status} then {exchange.end.error}"
        else:
            status = str(response.status)
        size = len(request.body) + (len(response.body) if response else 0)
        return [str(index), "http", what, status, _events_or_frames(exchange),
                f"{exchange.duration_ms:.0f} ms", str(size)]
    if isinstance(exchange, WebSocketExchange):
        close = exchange.close
        status = f"{exchange.response.status}"
        if close is not None:
            status += f" close {close.code}" + (f" by {close.by}" if close.by else "")
        size = sum(len(f.payload) for f in exchange.frames)
        return [str(index), "ws", f"WS {exchange.request.path}", status, _events_or_frames(exchange),
                f"{exchange.duration_ms:.0f} ms", str(size)]
    return [str(index), exchange.kind, "(unknown record type)", "-", "-", "-", "-"]


TABLE_COLUMNS = ["#", "kind", "request", "status", "events/frames", "duration", "bytes"]


def render_table(rows: list[list[str]]) -> str:
    widths = [max(len(col), *(len(r[i]) for r in rows)) if rows else len(col)
              for i, col in enumerate(TABLE_COLUMNS)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(TABLE_COLUMNS, widths, strict=True))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def describe_header(header: Header) -> str:
    upstream = header.upstream or "synthesized"
    return (f"rec cassette v{header.version}.{header.minor_version}, written by rec {header.rec_version} "
            f"at {header.created_at}, upstream {upstream}")
