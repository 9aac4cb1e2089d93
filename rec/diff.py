"""Compare two cassettes exchange by exchange, after normalization, for CI.

Exchanges are aligned by route (kind, method, path) and order, so an inserted or a
missing turn shows as such instead of shifting every later comparison. Each side of
an aligned pair becomes a normalized *view* (request: method, path, query, headers,
body; response: status, SSE events or body, WebSocket frames) and the views are
compared as indented JSON, giving a unified diff a reviewer can read.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rec.cassette import Exchange, HttpExchange, Request, Response, WebSocketExchange
from rec.normalize import Normalizer
from rec.sse import is_event_stream, split_events

Part = Literal["request", "response"]
ChangeKind = Literal["changed", "missing", "extra"]


def _route(exchange: Exchange) -> tuple[str, str, str]:
    if isinstance(exchange, HttpExchange | WebSocketExchange):
        path = exchange.request.path
        path = path[3:] if path.startswith("/v1/") else path
        return exchange.kind, exchange.request.method, path
    return exchange.kind, "", ""


def exchange_route(exchange: Exchange) -> str:
    kind, method, path = _route(exchange)
    return f"WS /v1{path}" if kind == "websocket" else f"{method} /v1{path}" if method else kind


def _decoded(data: bytes) -> Any:
    """JSON when it parses, else text (or a byte count for binary)."""
    try:
        return json.loads(data)
    except ValueError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(data)} binary bytes>"


def request_view(request: Request, normalizer: Normalizer) -> dict[str, Any]:
    view: dict[str, Any] = {"method": request.method, "path": request.path,
                            "query": [list(p) for p in request.query],
                            "headers": [list(p) for p in normalizer.headers(request.headers)]}
    if request.content:
        view["body"] = normalizer.drop_ignored(_decoded(request.content))
    return view


def response_view(response: Response | None, exchange: HttpExchange, normalizer: Normalizer) -> dict[str, Any]:
    if response is None:
        return {"error": exchange.end.error}
    view: dict[str, Any] = {"status": response.status,
                            "headers": [list(p) for p in normalizer.headers(response.headers)]}
    if is_event_stream(response.header("content-type")):
        view["events"] = [_decoded(e.data.encode()) if e.data is not None else {"event": e.event}
                          for e in split_events(response.body)]
    elif response.body:
        view["body"] = _decoded(response.body)
    if exchange.end.state == "error":
        view["ended"] = exchange.end.error
    return view


def views(exchange: Exchange, normalizer: Normalizer) -> dict[Part, Any]:
    """The normalized request and response of an exchange, ids masked consistently across both."""
    if isinstance(exchange, HttpExchange):
        raw: dict[str, Any] = {"request": request_view(exchange.request, normalizer),
                               "response": response_view(exchange.response, exchange, normalizer)}
    elif isinstance(exchange, WebSocketExchange):
        def data(payload: bytes, is_text: bool) -> Any:
            return _decoded(payload) if is_text else f"<{len(payload)} binary bytes>"

        raw = {"request": {**request_view(exchange.request, normalizer),
                           "frames": [normalizer.drop_ignored(data(f.payload, f.is_text))
                                      for f in exchange.frames if f.from_client]},
               "response": {"status": exchange.response.status,
                            "frames": [data(f.payload, f.is_text) for f in exchange.frames if not f.from_client],
                            "close": exchange.close.code if exchange.close else None}}
    else:
        raw = {"request": exchange.to_record(), "response": None}
    # Masking both parts as one document keeps <id:N> numbering shared between them.
    return normalizer.mask(raw)


def unified(a: Any, b: Any, label_a: str, label_b: str) -> str:
    before = json.dumps(a, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(b, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, label_a, label_b, lineterm=""))


@dataclass
class Change:
    kind: ChangeKind
    route: str
    a_index: int | None
    b_index: int | None
    parts: list[Part] = field(default_factory=list)
    diff: str = ""

    def title(self) -> str:
        where = {"changed": f"#{self.a_index} -> #{self.b_index}", "missing": f"#{self.a_index} only in A",
                 "extra": f"#{self.b_index} only in B"}[self.kind]
        what = f": {' and '.join(self.parts)} changed" if self.kind == "changed" else ""
        return f"{self.route} ({where}){what}"


@dataclass
class DiffResult:
    a: str
    b: str
    compared: int
    equal: int
    changes: list[Change]

    @property
    def same(self) -> bool:
        return not self.changes

    def counts(self) -> dict[str, int]:
        return {"equal": self.equal, **{kind: sum(1 for c in self.changes if c.kind == kind)
                                        for kind in ("changed", "missing", "extra")}}

    def summary(self) -> str:
        counts = self.counts()
        verdict = "equal" if self.same else "different"
        return (f"rec diff: {self.a} vs {self.b}: {verdict} ({counts['equal']} equal, {counts['changed']} changed, "
                f"{counts['missing']} missing, {counts['extra']} extra)")


def diff_exchanges(a: list[Exchange], b: list[Exchange], normalizer: Normalizer, parts: tuple[Part, ...],
                   a_name: str = "A", b_name: str = "B") -> DiffResult:
    """Align, then compare the chosen parts of each aligned pair.

    Alignment runs twice: first on route plus normalized content, so identical exchanges
    pair up exactly; then, inside each stretch that differs, on route alone, so a changed
    turn is compared with its counterpart and the rest show as missing or extra.
    """
    view_a = [views(e, normalizer) for e in a]
    view_b = [views(e, normalizer) for e in b]

    def content_key(exchange: Exchange, view: dict[Part, Any]) -> tuple[Any, ...]:
        return (_route(exchange), json.dumps([view[p] for p in parts], sort_keys=True, default=str))

    changes: list[Change] = []
    equal = 0
    outer = difflib.SequenceMatcher(a=[content_key(e, v) for e, v in zip(a, view_a, strict=True)],
                                    b=[content_key(e, v) for e, v in zip(b, view_b, strict=True)], autojunk=False)
    for op, a1, a2, b1, b2 in outer.get_opcodes():
        if op == "equal":
            equal += a2 - a1
            continue
        inner = difflib.SequenceMatcher(a=[_route(e) for e in a[a1:a2]], b=[_route(e) for e in b[b1:b2]],
                                        autojunk=False)
        for inner_op, i1, i2, j1, j2 in inner.get_opcodes():
            paired = list(zip(range(a1 + i1, a1 + i2), range(b1 + j1, b1 + j2), strict=False))
            if inner_op != "equal":
                paired = []
            for i, j in paired:
                differing = [p for p in parts if view_a[i][p] != view_b[j][p]]
                text = "\n".join(unified(view_a[i][p], view_b[j][p], f"{a_name}#{i} {p}", f"{b_name}#{j} {p}")
                                 for p in differing)
                changes.append(Change("changed", exchange_route(a[i]), i, j, differing, text))
            for i in range(a1 + i1 + len(paired), a1 + i2):
                changes.append(Change("missing", exchange_route(a[i]), i, None))
            for j in range(b1 + j1 + len(paired), b1 + j2):
                changes.append(Change("extra", exchange_route(b[j]), None, j))
    return DiffResult(a_name, b_name, compared=max(len(a), len(b)), equal=equal, changes=changes)


# --- rendering ---------------------------------------------------------------------------


def render_text(result: DiffResult) -> str:
    lines = [result.summary()]
    for change in result.changes:
        lines.append(f"\n{change.kind.upper()}: {change.title()}")
        if change.diff:
            lines.append(change.diff)
    return "\n".join(lines) + "\n"


def render_markdown(result: DiffResult) -> str:
    counts = result.counts()
    icon = "✅" if result.same else "❌"
    lines = [f"### {icon} rec diff: `{result.a}` vs `{result.b}`", "",
             "| equal | changed | missing | extra |", "| ---: | ---: | ---: | ---: |",
             f"| {counts['equal']} | {counts['changed']} | {counts['missing']} | {counts['extra']} |"]
    for change in result.changes:
        lines += ["", f"**{change.kind}**: `{change.title()}`"]
        if change.diff:
            lines += ["", "```diff", change.diff, "```"]
    return "\n".join(lines) + "\n"


def render_json(result: DiffResult) -> str:
    document = {"equal": result.same, "a": result.a, "b": result.b, "summary": result.counts(),
                "changes": [{"kind": c.kind, "route": c.route, "a_index": c.a_index, "b_index": c.b_index,
                             "parts": c.parts, "diff": c.diff} for c in result.changes]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
