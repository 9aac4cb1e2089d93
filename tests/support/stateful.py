"""The stand-in upstream with the API's state, as the API reference describes it.

Responses are stored and can be retrieved (JSON, or as a stream resumed after a
``starting_after`` sequence number), cancelled, and continued with
``previous_response_id``; ``background: true`` answers ``queued`` at once and finishes a
moment later (the output appears only through a retrieve or the stream); conversations
are created with their items, collect the input and output of every response created on
them, and list their items.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.upstream import Upstream, conversation_events, response_object, sse_event

# How long a background response stays queued, then in progress: long enough for a client to poll it.
QUEUED_S = 0.15
IN_PROGRESS_S = 0.15


@dataclass
class Stored:
    """One stored response: the request that made it, its events (numbered), and when it was created."""

    body: dict[str, Any]
    events: list[dict[str, Any]]
    background: bool
    created: float = field(default_factory=time.monotonic)
    cancelled: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if not self.background:
            return "completed"
        age = time.monotonic() - self.created
        return "queued" if age < QUEUED_S else "in_progress" if age < QUEUED_S + IN_PROGRESS_S else "completed"

    def as_object(self) -> dict[str, Any]:
        final = response_object(self.body, self.events)
        status = self.status
        conversation = self.body.get("conversation")
        return {**final, "status": status, "background": self.background,
                "output": final["output"] if status == "completed" else [],
                "conversation": {"id": conversation} if isinstance(conversation, str) else None}


@dataclass
class StatefulUpstream(Upstream):
    """The stand-in, plus stored responses, background mode, resumable streams and conversations."""

    stored: dict[str, Stored] = field(default_factory=dict)
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = super().app()
        for prefix in ("", "/v1"):
            app.router.add_get(f"{prefix}/responses/{{response_id}}", self.retrieve)
            app.router.add_post(f"{prefix}/responses/{{response_id}}/cancel", self.cancel)
            app.router.add_post(f"{prefix}/conversations", self.create_conversation)
            app.router.add_post(f"{prefix}/conversations/{{conversation_id}}/items", self.add_items)
            app.router.add_get(f"{prefix}/conversations/{{conversation_id}}/items", self.list_items)
        return app

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        conversation = body.get("conversation")
        if isinstance(conversation, dict):
            conversation = body["conversation"] = conversation.get("id")
        if conversation is not None and conversation not in self.conversations:
            return _error(404, f"Conversation with id '{conversation}' not found.", "conversation")
        response_id = self.next_id()
        events = [{**event, "sequence_number": n} for n, event in enumerate(conversation_events(body, response_id))]
        stored = self.stored[response_id] = Stored(body, events, bool(body.get("background")))
        if isinstance(conversation, str):
            inputs = body.get("input")
            items = [{"type": "message", "role": "user", "content": inputs}] if isinstance(inputs, str) else inputs
            self.conversations[conversation] += [*(items or []), *events[-1]["response"]["output"]]
        if not body.get("stream"):
            return web.json_response(stored.as_object())
        return await self._stream(request, stored, after=-1)

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path_qs, "headers": dict(request.headers), "body": None})
        stored = self.stored.get(request.match_info["response_id"])
        if stored is None:
            return _error(404, f"No response found with id '{request.match_info['response_id']}'.", "response_id")
        if request.query.get("stream") == "true":
            return await self._stream(request, stored, after=int(request.query.get("starting_after", "-1")))
        return web.json_response(stored.as_object())

    async def cancel(self, request: web.Request) -> web.Response:
        stored = self.stored.get(request.match_info["response_id"])
        if stored is None or not stored.background:
            return _error(400, "Only background responses can be cancelled.", "response_id")
        if stored.status in ("queued", "in_progress"):
            stored.cancelled = True
        return web.json_response(stored.as_object())

    async def _stream(self, request: web.Request, stored: Stored, after: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-request-id": "req_standin"})
        await response.prepare(request)
        try:
            for event in stored.events:
                if event["sequence_number"] <= after:
                    continue
                if self.gap_s:
                    await asyncio.sleep(self.gap_s)
                await response.write(sse_event(event))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client left; a background response goes on without it
        return response

    async def create_conversation(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        conversation = f"conv_standin{len(self.conversations) + 1:04d}"
        self.conversations[conversation] = _with_ids(body.get("items") or [])
        return web.json_response({"id": conversation, "object": "conversation", "created_at": 1,
                                  "metadata": body.get("metadata") or {}})

    async def add_items(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        items = self.conversations.get(request.match_info["conversation_id"])
        if items is None:
            return _error(404, "Conversation not found.", "conversation_id")
        added = _with_ids(body.get("items") or [])
        items += added
        return web.json_response(_page(added))

    async def list_items(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path_qs, "headers": dict(request.headers), "body": None})
        items = self.conversations.get(request.match_info["conversation_id"])
        if items is None:
            return _error(404, "Conversation not found.", "conversation_id")
        ordered = list(items) if request.query.get("order") == "asc" else list(reversed(items))
        return web.json_response(_page(_with_ids(ordered)[: int(request.query.get("limit", "20"))]))


def _with_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as the API lists them, each with an id (its own, or one derived from its content)."""
    return [{"id": "item_" + hashlib.sha1(json.dumps(item, sort_keys=True).encode()).hexdigest()[:12], **item}
            for item in items]


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": False}


def _error(status: int, message: str, param: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                        "code": None}}, status=status)
