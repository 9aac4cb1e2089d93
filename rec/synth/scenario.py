"""Scenarios: cassettes built from `ev_*` builders, with no recording at all.

A Scenario collects exchanges in the order a client will ask for them and writes
them as an ordinary cassette, which `rec replay` serves like a recorded one::

    scenario = Scenario("tool call")
    scenario.sse_turn([ev_response_created("resp-1"), ev_function_call("call-1", "shell", "{}"),
                       ev_completed("resp-1")])
    scenario.models([{"slug": "gpt-5"}], etag='"v1"')
    scenario.write("tool-call.mpk")

A turn may carry the request the client is expected to send (``request=``); without
one the recorded request has no body, so only `--match sequence` applies to it.

``malformed=True`` on a streamed turn marks a stream that breaks the rules of `rec check`
on purpose (a fault under test): `rec synth` writes it and `rec check` leaves it alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rec.cassette import (
    ACCEPT_DELAY_KEY,
    Close,
    End,
    Exchange,
    Frame,
    Header,
    HttpExchange,
    Request,
    Response,
    WebSocketExchange,
    exchange_from_record,
    record_with_chunk_pairs,
    write_cassette,
)
from rec.check.streams import DELIBERATE_KEY
from rec.synth.events import Event, sse

# Headers as a scenario takes them: any sequence of (name, value) pairs.
HeaderPairs = Sequence[tuple[str, str]]


def _request(method: str, path: str, body: Any | None, headers: HeaderPairs = ()) -> Request:
    raw = b"" if body is None else json.dumps(body).encode()
    content_type = [("content-type", "application/json")] if body is not None else []
    return Request(method=method, path=path, headers=[*content_type, *headers], body=raw)


def sse_chunks(events: Sequence[Event], delay_ms: float = 0.0) -> list[tuple[float, bytes]]:
    """One chunk per event, ``delay_ms`` apart: the pacing `--timing recorded` reproduces."""
    return [(index * delay_ms, sse([event]).encode()) for index, event in enumerate(events)]


@dataclass
class Scenario:
    """An ordered list of synthesized exchanges, written as a cassette by ``write``."""

    name: str = "scenario"
    exchanges: list[Exchange] = field(default_factory=list)

    def sse_turn(self, events: Sequence[Event], *, request: Any | None = None, path: str = "/v1/responses",
                 status: int = 200, headers: HeaderPairs = (), delay_ms: float = 0.0,
                 cut_after: int | None = None, malformed: bool = False) -> Scenario:
        """A POST answered by an SSE stream; ``cut_after=N`` closes it after N events (a recorded fault);
        ``malformed=True``: the stream breaks the rules of `rec check` on purpose."""
        sent = list(events) if cut_after is None else list(events)[:cut_after]
        chunks = sse_chunks(sent, delay_ms)
        at_ms = chunks[-1][0] if chunks else 0.0
        end = End(at_ms=at_ms) if cut_after is None else End(
            state="error", error="cut", message=f"stream closed after {cut_after} event(s)", at_ms=at_ms)
        response = Response(status=status, reason="", chunks=chunks,
                            headers=[("content-type", "text/event-stream"), *headers])
        self._add(HttpExchange(request=_request("POST", path, request), response=response, end=end,
                               extra=_deliberate(malformed)))
        return self

    def json_turn(self, body: Any, *, path: str = "/v1/responses", method: str = "POST", request: Any | None = None,
                  status: int = 200, headers: HeaderPairs = (), delay_ms: float = 0.0) -> Scenario:
        """Any route answered with a JSON body (an error, a compact result, a model list, ...)."""
        response = Response(status=status, headers=[("content-type", "application/json"), *headers],
                            chunks=[(delay_ms, json.dumps(body).encode())])
        self._add(HttpExchange(request=_request(method, path, request), response=response, end=End(at_ms=delay_ms)))
        return self

    def compact(self, output: list[Any], *, request: Any | None = None, status: int = 200) -> Scenario:
        """A `/responses/compact` answer whose `output` holds the compacted items."""
        return self.json_turn({"output": output}, path="/v1/responses/compact", request=request, status=status)

    def models(self, models: list[Any], *, etag: str | None = None, delay_ms: float = 0.0,
               public_api_shape: bool = False) -> Scenario:
        """A `/models` answer: Codex's `{"models": [...]}`, or the public `{"object": "list", "data": [...]}`."""
        body = {"object": "list", "data": models} if public_api_shape else {"models": models}
        headers = [("etag", etag)] if etag else []
        return self.json_turn(body, path="/v1/models", method="GET", headers=headers, delay_ms=delay_ms)

    def websocket(self, turns: Iterable[tuple[Any | None, Sequence[Event]]], *, path: str = "/v1/responses",
                  headers: HeaderPairs = (), accept_delay_ms: float = 0.0, deflate: bool = True,
                  malformed: bool = False) -> Scenario:
        """One WebSocket connection: for each client request (or None: any), the events sent back;
        ``malformed=True``: a turn breaks the rules of `rec check` on purpose."""
        frames: list[Frame] = []
        at = 0.0
        for request, events in turns:
            body = request if request is not None else {"type": "response.create"}
            frames.append(Frame(at_ms=at, from_client=True, is_text=True, payload=json.dumps(body).encode()))
            for event in events:
                at += 1.0
                frames.append(Frame(at_ms=at, from_client=False, is_text=True, payload=json.dumps(event).encode()))
            at += 1.0
        extra = {ACCEPT_DELAY_KEY: accept_delay_ms} if accept_delay_ms else {}
        extra.update(_deliberate(malformed))
        self._add(WebSocketExchange(
            request=_request("GET", path, None, [("upgrade", "websocket"), ("connection", "Upgrade")]),
            response=Response(status=101, reason="Switching Protocols", headers=list(headers)),
            extensions=["permessage-deflate"] if deflate else [],
            frames=frames,
            close=Close(code=1000, reason="", by="client", at_ms=at),
            extra=extra,
        ))
        return self

    def _add(self, exchange: Exchange) -> None:
        """Keep an exchange as a reader of its cassette will read it: a value no recording could hold (a status
        outside 100-599, a line break in a header, a number given as text) is a ValueError naming its field."""
        try:
            # Chunks as pairs: each one's time and bytes checked, and named, as a reader checks them.
            self.exchanges.append(exchange_from_record(record_with_chunk_pairs(exchange)))
        except TypeError as err:  # a value of a type the record cannot even be built from
            raise ValueError(str(err)) from None

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the cassette atomically (upstream: none, metadata: the scenario's name)."""
        write_cassette(path, Header(upstream=None, metadata={"synthesized": True, "scenario": self.name}),
                       self.exchanges)


def _deliberate(malformed: bool) -> dict[str, Any]:
    """The exchange extra that tells `rec check` a malformed stream is the point."""
    return {DELIBERATE_KEY: True} if malformed else {}


def mark_malformed(exchange: Exchange) -> None:
    """Mark an exchange's stream as malformed on purpose (rec synth --allow-malformed)."""
    if isinstance(exchange, HttpExchange | WebSocketExchange):
        exchange.extra.update(_deliberate(True))


def scenario_from_json(document: dict[str, Any]) -> Scenario:
    """A scenario from its JSON form (docs/synth.md); raises ValueError naming the bad entry."""
    name = document.get("name", "scenario")
    if not isinstance(name, str):
        raise ValueError('a JSON scenario\'s "name" must be a string')
    scenario = Scenario(name=name)
    entries = document.get("exchanges")
    if not isinstance(entries, list):
        raise ValueError('a JSON scenario needs an "exchanges" list')
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "kind" not in entry:
            raise ValueError(f"exchanges[{index}] needs a \"kind\" (sse, json, compact, models or websocket)")
        options = {k: v for k, v in entry.items() if k != "kind"}
        try:
            kind = entry["kind"]
            for key in ("events", "turns", "headers"):
                if key in options and not isinstance(options[key], list):
                    raise ValueError(f"{key!r} must be a list")
            if kind == "sse":
                scenario.sse_turn(options.pop("events"), **options)
            elif kind == "json":
                scenario.json_turn(options.pop("body"), **options)
            elif kind == "compact":
                scenario.compact(options.pop("output"), **options)
            elif kind == "models":
                scenario.models(options.pop("models"), **options)
            elif kind == "websocket":
                turns = options.pop("turns")
                if not all(isinstance(turn, dict) and isinstance(turn.get("events"), list) for turn in turns):
                    raise ValueError('each of "turns" must be an object with an "events" list')
                turns = [(turn.get("request"), turn["events"]) for turn in turns]
                scenario.websocket(turns, **options)
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"exchanges[{index}] ({entry.get('kind')}): {err}") from None
    return scenario
