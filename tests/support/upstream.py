"""A stand-in for api.openai.com in recording tests: an honest aiohttp server on 127.0.0.1.

It streams SSE with real gaps between events, speaks the Responses WebSocket mode
(`response.create` in, JSON events out, permessage-deflate), answers `/responses/compact`
and `/models`, runs a tool-calling conversation (an `exec_command` call, then an answer
once its output comes back), and breaks when asked: a request header `x-upstream-fault`
of `cut:N` (close after N events), `reset:N` (RST after N events) or `stall` (never
answer) makes that one response fail.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.web import ContentCoding

from rec.encoding import decode_body

ECHO_CALL_ID = "call_echo_1"


def sse_event(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _usage() -> dict[str, Any]:
    return {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}


def response_object(body: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """A non-streamed answer: the Response object the stream's terminal event carries, in full."""
    final = events[-1]["response"]
    return {"object": "response", "created_at": 1, "model": body.get("model", "gpt-test"), "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"), "metadata": {},
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": body.get("tools", []),
            "previous_response_id": body.get("previous_response_id"), **final}


def conversation_events(body: dict[str, Any], response_id: str) -> list[dict[str, Any]]:
    """The model's answer: an exec_command call first, then a message once the call's output is in."""
    items = body.get("input") or []
    outputs = [i for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
    head = [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress"}},
        {"type": "response.in_progress", "response": {"id": response_id, "status": "in_progress"}},
    ]
    if body.get("generate") is False:
        # A prewarm: the API creates an empty response the next turn can chain to.
        done = {"type": "response.completed",
                "response": {"id": response_id, "status": "completed", "output": [], "usage": _usage()}}
        return [head[0], done]
    if outputs or not body.get("tools"):
        # Like a model, it reports what the command printed, not Codex's header around it (Chunk ID: ...).
        printed = str(outputs[-1].get("output")).rpartition("Output:\n")[2].strip() if outputs else ""
        text = f"The command printed: {printed}" if outputs else "Hello from the stand-in."
        words = text.split(" ")
        deltas = [{"type": "response.output_text.delta", "item_id": "msg_standin1", "output_index": 0,
                   "content_index": 0, "delta": w + (" " if i < len(words) - 1 else "")}
                  for i, w in enumerate(words)]
        message = {"type": "message", "id": "msg_standin1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}
        output: list[dict[str, Any]] = [message]
        body_events = [
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**message, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", "item_id": "msg_standin1", "output_index": 0,
             "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
            *deltas,
            {"type": "response.output_text.done", "item_id": "msg_standin1", "output_index": 0,
             "content_index": 0, "text": text},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
        ]
    else:
        # The client's first tool (Codex's is exec_command), called with a command to run.
        name = next((t.get("name") for t in body["tools"] if isinstance(t, dict) and t.get("name")), "exec_command")
        call = {"type": "function_call", "id": "fc_standin1", "call_id": ECHO_CALL_ID, "name": name,
                "arguments": json.dumps({"cmd": "echo hi"}), "status": "completed"}
        output = [call]
        body_events = [
            {"type": "response.output_item.added", "output_index": 0, "item": {**call, "arguments": ""}},
            {"type": "response.function_call_arguments.done", "item_id": "fc_standin1", "output_index": 0,
             "arguments": call["arguments"]},
            {"type": "response.output_item.done", "output_index": 0, "item": call},
        ]
    done = {"type": "response.completed",
            "response": {"id": response_id, "status": "completed", "output": output, "usage": _usage()}}
    return [*head, *body_events, done]


@dataclass
class Upstream:
    """What the stand-in saw, for assertions; and its knobs."""

    gap_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    echo_secret: str | None = None
    # Sent on every answer, as an edge in front of the API adds them (Cloudflare's Set-Cookie).
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None  # the reason phrase /models answers with (a gateway's own words)
    url: str = ""
    _counter: int = 0

    async def _edge(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.extra_headers:
            response.headers.add(name, value)

    def next_id(self) -> str:
        self._counter += 1
        return f"resp_standin{self._counter:04d}"

    def app(self) -> web.Application:
        app = web.Application()
        app.on_response_prepare.append(self._edge)
        for prefix in ("", "/v1"):
            app.router.add_post(f"{prefix}/responses", self.responses)
            app.router.add_get(f"{prefix}/responses", self.websocket)
            app.router.add_post(f"{prefix}/responses/compact", self.compact)
            app.router.add_get(f"{prefix}/models", self.models)
        return app

    async def _json(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        # aiohttp undoes gzip, deflate and br itself; zstd (which Codex sends) is left to us.
        coding = request.headers.get("content-encoding")
        body = json.loads((decode_body(raw, coding) if coding == "zstd" else raw) or b"{}")
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        return body

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        events = conversation_events(body, self.next_id())
        if self.echo_secret:
            events.insert(1, {"type": "response.in_progress", "echo": f"your key is {self.echo_secret}"})
        fault = request.headers.get("x-upstream-fault", "")
        if fault == "stall":
            await asyncio.sleep(3600)
        if not body.get("stream"):
            return web.json_response(response_object(body, events), headers={"x-request-id": "req_standin"})
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-request-id": "req_standin"})
        if request.headers.get("x-upstream-compress") in ("gzip", "deflate"):
            response.enable_compression(ContentCoding(request.headers["x-upstream-compress"]))
        await response.prepare(request)
        kind, _, count = fault.partition(":")
        for index, event in enumerate(events):
            if kind in ("cut", "reset") and index == int(count):
                transport = request.transport
                assert transport is not None
                if kind == "reset":
                    sock = transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.close()
                return response
            if index and self.gap_s:
                await asyncio.sleep(self.gap_s)
            self.sent_at.append(time.time())
            await response.write(sse_event(event))
        await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=True)
        await ws.prepare(request)
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": None})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            self.requests.append({"path": "ws", "headers": {}, "body": body})
            events = conversation_events(body, self.next_id())
            if self.echo_secret:
                events.insert(1, {"type": "response.in_progress", "echo": f"your key is {self.echo_secret}"})
            for index, event in enumerate(events):
                if index and self.gap_s:
                    await asyncio.sleep(self.gap_s)
                await ws.send_str(json.dumps(event))
        return ws

    async def compact(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        output = [*body.get("input", [])[-1:],
                  {"type": "compaction", "id": "cmp_standin1", "encrypted_content": "c3VtbWFyeQ=="}]
        return web.json_response({"id": "resp_compact1", "object": "response.compaction", "created_at": 1,
                                  "output": output, "usage": _usage()})

    async def models(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": None})
        data = [{"id": "gpt-5", "object": "model", "created": 1, "owned_by": "openai"}]
        if self.echo_secret:
            data[0]["owned_by"] = f"your key is {self.echo_secret}"
        body = json.dumps({"object": "list", "data": data}).encode()
        headers = {"ETag": '"models-v1"', "content-type": "application/json"}
        coding = request.headers.get("x-upstream-compress")  # as a real server does on Accept-Encoding
        if coding:
            body = _compress(body, coding)
            headers["content-encoding"] = coding
        return web.Response(body=body, headers=headers, reason=self.reason)


def _compress(body: bytes, coding: str) -> bytes:
    import gzip
    import zlib

    import brotli
    import zstandard

    return {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "zstd": zstandard.ZstdCompressor().compress}[coding](body)


@contextmanager
def running_upstream(gap_s: float = 0.0, echo_secret: str | None = None,
                     extra_headers: list[tuple[str, str]] | None = None, reason: str | None = None,
                     kind: type[Upstream] = Upstream) -> Iterator[Upstream]:
    """Serve a stand-in upstream (``kind``) on 127.0.0.1 (a free port) from a background thread."""
    upstream = kind(gap_s=gap_s, echo_secret=echo_secret, extra_headers=extra_headers or [], reason=reason)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(upstream.app(), handle_signals=False)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        upstream.url = f"http://127.0.0.1:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    try:
        yield upstream
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@contextmanager
def raw_upstream(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A bare TCP upstream for answers no HTTP server would write: each connection's request head is read, then
    ``answer`` writes what it likes on the socket (or resets it) and the connection is closed. Yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request and (chunk := connection.recv(65536)):
                    request += chunk
                answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=10)
