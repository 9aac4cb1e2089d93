"""The addon's record building, hook by hook, on mitmproxy's own test flows: no proxy, no sockets."""

from __future__ import annotations

import gzip
import json

from mitmproxy import http
from mitmproxy.test import tflow
from mitmproxy.websocket import WebSocketMessage
from wsproto.frame_protocol import Opcode

from rec.cassette import Exchange, HttpExchange, WebSocketExchange, WebSocketPart
from recorder.addon import RecordAddon
from recorder.redact import Redactor

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl"


def addon() -> tuple[RecordAddon, list[Exchange | WebSocketPart]]:
    written: list[Exchange | WebSocketPart] = []
    return RecordAddon(written.append, Redactor()), written


def test_an_sse_exchange_keeps_each_chunk_and_its_end() -> None:
    record, written = addon()
    flow = tflow.tflow(resp=True)
    flow.request.headers["authorization"] = f"Bearer {TOKEN}"
    record.requestheaders(flow)
    record.responseheaders(flow)
    for chunk in (b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n", b""):
        flow.response.stream(chunk)  # type: ignore[union-attr, operator]
    record.response(flow)
    [exchange] = written
    assert isinstance(exchange, HttpExchange) and exchange.end.state == "completed"
    assert [data for _, data in exchange.response.chunks] == [b"event: a\ndata: {}\n\n", b"event: b\ndata: {}\n\n"]
    assert exchange.request.header("authorization") == "[REDACTED]"


def test_a_compressed_answer_is_recorded_decoded_without_its_encoding() -> None:
    record, written = addon()
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-encoding"] = "gzip"  # type: ignore[union-attr]
    record.requestheaders(flow)
    record.responseheaders(flow)
    flow.response.stream(gzip.compress(b'{"key": "sk-proj-abcdefghijklmnopqrstuvwxyz"}'))  # type: ignore[union-attr, operator]
    record.response(flow)
    [exchange] = written
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    assert exchange.response.header("content-encoding") is None
    assert json.loads(exchange.response.body) == {"key": "[REDACTED]"}


def test_an_unreachable_upstream_is_a_failed_exchange() -> None:
    record, written = addon()
    flow = tflow.tflow(err=True)
    flow.server_conn.timestamp_tcp_setup = None
    record.requestheaders(flow)
    record.error(flow)
    [exchange] = written
    assert isinstance(exchange, HttpExchange) and exchange.response is None
    assert exchange.end.error == "upstream_unreachable"


def test_a_websocket_is_written_turn_by_turn_with_handshake_secrets_scrubbed() -> None:
    record, written = addon()
    flow = tflow.twebsocketflow()
    assert flow.websocket is not None
    flow.websocket.messages = []  # the test flow comes with messages of its own
    flow.request.headers["authorization"] = f"Bearer {TOKEN}"
    record.requestheaders(flow)
    record.websocket_start(flow)
    turns = [(True, b'{"type": "response.create"}'), (False, b'{"type": "response.created"}'),
             (False, b'{"type":"response.completed","echo":"' + TOKEN.encode() + b'"}')]
    for from_client, payload in turns:
        flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, from_client, payload, 946681204))
        record.websocket_message(flow)
    assert len(written) == 1 and isinstance(written[0], WebSocketPart) and not written[0].final
    record.websocket_end(flow)
    first, last = written
    assert isinstance(last, WebSocketPart) and last.final and last.exchange.frames == []
    frames = first.exchange.frames  # type: ignore[union-attr]
    assert len(frames) == 3 and TOKEN.encode() not in frames[2].payload and b"[REDACTED]" in frames[2].payload
    assert isinstance(last.exchange, WebSocketExchange) and last.exchange.close is not None


def test_a_websocket_out_of_scope_is_not_recorded() -> None:
    written: list[Exchange | WebSocketPart] = []
    record = RecordAddon(written.append, Redactor(), in_scope=lambda flow: False)
    flow: http.HTTPFlow = tflow.twebsocketflow()
    record.requestheaders(flow)
    record.websocket_start(flow)
    record.websocket_message(flow)
    record.websocket_end(flow)
    assert written == []
