"""`rec show`: a cassette as a table of exchanges, or as JSON for humans, scripts and git diff."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

import msgpack
import orjson

from rec.cassette import Exchange, Header, HttpExchange, WebSocketExchange, record_with_chunk_pairs
from rec.diff.compare import AS_RECORDED, exchange_figures
from rec.diff.rules import Rules
from rec.diff.usage import Figures
from rec.diff.views import views
from rec.sse import is_event_stream, split_events

BASE64_MARKER = "$base64"
# msgpack values JSON has no type for (a field a newer rec added may hold them).
TIMESTAMP_MARKER = "$timestamp"
EXTENSION_MARKER = "$ext"


def bytes_to_json(data: bytes) -> str | dict[str, str]:
    """UTF-8 text where valid; otherwise {"$base64": ...} so the bytes survive exactly."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {BASE64_MARKER: base64.b64encode(data).decode("ascii")}


def to_jsonable(value: Any) -> Any:
    """A record's value as JSON: bytes as text or base64, and msgpack's extension values tagged like bytes are."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes_to_json(bytes(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, msgpack.Timestamp):
        return {TIMESTAMP_MARKER: value.to_datetime().isoformat()}
    if isinstance(value, msgpack.ExtType):
        return {EXTENSION_MARKER: value.code, "data": bytes_to_json(value.data)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def exchange_to_json(index: int, exchange: Exchange) -> dict[str, Any]:
    # Each chunk as its time and text: a joined body beside packed times and sizes reads as noise.
    return {"index": index, **to_jsonable(record_with_chunk_pairs(exchange))}


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
        return f"{response.chunk_count} chunks"
    if isinstance(exchange, WebSocketExchange):
        sent = sum(1 for f in exchange.frames if f.from_client)
        return f"{len(exchange.frames)} frames ({sent} in)"
    return "-"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_or_none(data: bytes) -> Any:
    # orjson refuses JSON nested past 1,024 levels with an error, where json would recurse until it overflows.
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _last_user_text(body: Any) -> str:
    """The start of what the user last said in a Responses request (a string input, or its last user message)."""
    items = body.get("input") if isinstance(body, dict) else None
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            texts = [c.get("text", "") for c in content or [] if isinstance(c, dict) and c.get("type") == "input_text"]
            if texts:
                return texts[-1]
        if isinstance(item, dict) and item.get("type", "").endswith("_output"):
            return f"<{item['type']} {item.get('call_id', '')}>"
    return ""


def _output_summary(response: dict[str, Any]) -> str:
    """A response's id, status and what it produced: the start of its text, the tools it called."""
    parts = []
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            text = "".join(c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict))
            parts.append(repr(_clip(text, 24)))
        elif item.get("type", "").endswith("call"):
            parts.append(f"{item.get('name') or item['type']}()")
    produced = ", ".join(parts) or "no output"
    return f"{response.get('id', '?')} {response.get('status', '?')}: {produced}"


_TERMINAL = ("response.completed", "response.failed", "response.incomplete")


def conversation_summary(request_body: bytes, answers: Iterable[bytes]) -> str:
    """`model · "what the user said" → resp_id status: what came back`, so exchanges of one route differ at a glance."""
    body = _json_or_none(request_body)
    if not isinstance(body, dict):
        return ""
    final: dict[str, Any] | None = None
    done: list[Any] = []
    for payload in answers:
        event = _json_or_none(payload)
        if not isinstance(event, dict):
            continue
        if event.get("type") == "response.output_item.done":
            done.append(event.get("item"))
        nested = event.get("response")
        response: dict[str, Any] = nested if isinstance(nested, dict) else event
        if "id" in response:
            kind = str(event.get("type", ""))
            terminal = kind.removeprefix("response.") if kind in _TERMINAL else None
            final = {**response, "status": response.get("status") or terminal or "?"}
    if final is not None and done and not final.get("output"):
        final = {**final, "output": done}  # a stream whose terminal event omits the items it streamed
    said = _clip(_last_user_text(body), 30)
    summary = f"{body.get('model', '?')} · {said!r}" if said else str(body.get("model", ""))
    return summary + (f" → {_output_summary(final)}" if final else "")


def _summary(exchange: Exchange) -> str:
    if isinstance(exchange, HttpExchange):
        response = exchange.response
        if response is None:
            answers: list[bytes] = []
        elif is_event_stream(response.header("content-type")):
            answers = [event.data.encode() for event in split_events(response.body) if event.data]
        else:
            answers = [response.body]
        return conversation_summary(exchange.request.content, answers)
    if isinstance(exchange, WebSocketExchange):
        sent = [f.payload for f in exchange.frames if f.from_client]
        after = [f.payload for f in exchange.frames[[f.from_client for f in exchange.frames].index(True):]
                 if not f.from_client] if sent else []
        turns = f"{len(sent)} turn(s); last: " if sent else ""
        return turns + conversation_summary(sent[-1], after[-40:]) if sent else ""
    return ""


def summary_row(index: int, exchange: Exchange) -> list[str]:
    """One table row: index, kind, what, status, events or frames, duration, bytes, and what was said."""
    return [*_row(index, exchange), _summary(exchange)]


def _row(index: int, exchange: Exchange) -> list[str]:
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


TABLE_COLUMNS = ["#", "kind", "request", "status", "events/frames", "duration", "bytes", "conversation"]
# Rows read before the first line is printed: the columns are as wide as these need (a wider cell later pushes the
# rest of its row), so a large cassette's table starts after this many exchanges, not after all of them.
WIDTH_SAMPLE = 20


def table_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """The table line by line, the column names first, as the rows come."""
    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE))
    widths = [max([len(column), *(len(row[i]) for row in sample)]) for i, column in enumerate(TABLE_COLUMNS)]
    for row in chain([TABLE_COLUMNS], sample, rows):
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def describe_header(header: Header) -> str:
    upstream = header.upstream or "synthesized"
    return (f"rec cassette v{header.version}.{header.minor_version}, written by rec {header.rec_version} "
            f"at {header.created_at}, upstream {upstream}")


class Totals:
    """A cassette's totals, added up exchange by exchange as it is shown: tokens of each kind, recorded times."""

    def __init__(self) -> None:
        self.figures = Figures()

    def add(self, exchange: Exchange) -> None:
        self.figures = self.figures + exchange_figures(exchange, views(exchange, AS_RECORDED), Rules())

    def line(self) -> str:
        f = self.figures

        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:,.0f} ms"

        return (f"totals: tokens {f.total_tokens:,} (input {f.input_tokens:,}, cached {f.cached_tokens:,}, "
                f"output {f.output_tokens:,}, reasoning {f.reasoning_tokens:,}); time to first event "
                f"{ms(f.first_event_ms)}, duration {ms(f.duration_ms)} (summed over the exchanges)")
