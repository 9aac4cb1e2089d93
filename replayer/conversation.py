"""The API's state as this replay has shown it: responses by id and conversations by id, so a request is judged
against what it continues.

A request continues earlier items two ways, as the API keeps them: ``previous_response_id``
(the chain of responses, each with the input that made it and the items it produced) and
``conversation`` (created with ``POST /conversations`` and its ``items``, added to by every
response created on it). Every answer that shows such state registers here, whatever route
carried it (``replayer.routes``: a create as JSON or SSE, a retrieve as JSON or a resumed
stream, a cancel, a compact, a WebSocket turn, the conversation endpoints): a background
response answers ``queued`` with no output, and its function call reaches the client later
through a retrieve, so what a response produced is the union of every answer about it.

Registering is cheap: an answer is read only when a later request needs the state it shows
(a ``previous_response_id`` not known yet, or a ``conversation``), so a replay whose client
sends the whole history every time (Codex over HTTP) never parses a recorded answer. Until
then a recorded exchange is noted by reference (``replayer.recorded.Recorded``), not by its
answer and request, which are read again from the recording when needed.

Only the items that pair up (tool calls and their outputs, ``replayer.invariants``) are kept:
they are what a request is judged by, and they keep a long replay's state small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from replayer.invariants import PAIRED_KINDS, InvariantViolation
from replayer.routes import Shows
from replayer.served import Served


class ServedSource(Protocol):
    """An answer (or WebSocket turn, or recorded exchange) served: what it shows of the API's state, read on
    demand."""

    @property
    def served(self) -> Served: ...


class RequestSource(Protocol):
    """A request sent exactly as the recording holds it, read again from the recording when needed."""

    def request_content(self) -> bytes: ...


@dataclass
class History:
    """The items a request continues; ``complete`` is False when part of it began before this replay."""

    items: list[Any] = field(default_factory=list)
    complete: bool = True


@dataclass
class _Response:
    # What the create request that made it continued: its previous response, and its input's paired items.
    previous: Any = None
    input: list[Any] = field(default_factory=list)
    items: dict[tuple[str, str], Any] = field(default_factory=dict)  # what it produced, by (type, call id)


@dataclass
class _Conversation:
    items: dict[tuple[str, str], Any] = field(default_factory=dict)
    responses: list[str] = field(default_factory=list)  # responses created on it, in order


@dataclass(slots=True)
class _Pending:
    shows: Shows
    request: bytes | RequestSource  # the request's body ("" for a GET)
    answer: ServedSource
    path_id: str | None  # the response or conversation id the request's path names


class Conversation:
    """Responses and conversations this replay has shown, read lazily from the answers that showed them."""

    def __init__(self, recorded_before: Callable[[str], bool] = lambda _id: False) -> None:
        # Whether an id was already named by a recorded request: that state began before the recording.
        self.recorded_before = recorded_before
        # Answers served and not read yet, in the order served, one place per answer (a long run that serves
        # the same answers again and again stays bounded).
        self._pending: dict[int, _Pending] = {}
        self._responses: dict[str, _Response] = {}
        self._conversations: dict[str, _Conversation] = {}

    def remember(self, request: bytes | RequestSource, answer: ServedSource, shows: Shows = "response",
                 path_id: str | None = None) -> None:
        """Note an answer served for a request (its body's bytes, or the recorded exchange it equals); read only
        when a later request needs it.

        ``shows`` says what the answer is (``replayer.routes.Endpoint.shows``); ``path_id`` is the
        response or conversation id in the request's path, when it names one.
        """
        key = id(answer)
        self._pending.pop(key, None)  # moved to the end: the conversation's items keep the serving order
        self._pending[key] = _Pending(shows, request, answer, path_id)

    def history(self, body: dict[str, Any]) -> History:
        """The items a request continues, through its ``conversation`` or its ``previous_response_id`` chain;
        InvariantViolation for a previous response this replay never showed (and no recording named)."""
        history = History()
        conversation = _conversation_named(body)
        if conversation is not None:
            self._resolve()
            known = self._conversations.get(conversation)
            if known is None:
                history.complete = False  # created before the replay (or outside it): its items are unknown
            else:
                self._add_conversation(known, history)
        self._add_chain(body.get("previous_response_id"), history)
        return history

    # --- following state --------------------------------------------------------------

    def _add_chain(self, previous: Any, history: History) -> None:
        seen: set[str] = set()
        while previous is not None:
            if not isinstance(previous, str) or previous in seen:
                raise InvariantViolation(f"previous_response_id {previous!r} is not a response id")
            seen.add(previous)
            response = self._find(previous)
            if response is None:
                if self.recorded_before(previous):
                    history.complete = False  # the recorded conversation already continued this response
                    return
                raise InvariantViolation(f"previous_response_id {previous!r} names no response served earlier in "
                                         "this replay (a response the client got from rec, or one a recorded "
                                         "request already continued)")
            history.items.extend(response.items.values())
            history.items.extend(response.input)
            previous = response.previous

    def _add_conversation(self, conversation: _Conversation, history: History) -> None:
        history.items.extend(conversation.items.values())
        for response_id in conversation.responses:
            response = self._responses[response_id]
            history.items.extend(response.items.values())
            history.items.extend(response.input)

    def _find(self, response_id: str) -> _Response | None:
        if response_id not in self._responses or self._pending:
            self._resolve()
        return self._responses.get(response_id)

    # --- reading what was served --------------------------------------------------------

    def _resolve(self) -> None:
        pending, self._pending = self._pending, {}
        for noted in pending.values():
            served = noted.answer.served
            if noted.shows == "response":
                self._learn_response(noted, served)
            elif noted.shows == "conversation":
                if served.conversation_id is not None:
                    conversation = self._conversations.setdefault(served.conversation_id, _Conversation())
                    _keep(conversation.items, _parse(noted.request).get("items"))
            else:  # conversation_items: a list of items added to, or read from, the conversation in the path
                if noted.path_id is not None:
                    conversation = self._conversations.setdefault(noted.path_id, _Conversation())
                    _keep(conversation.items, served.output)
                    _keep(conversation.items, _parse(noted.request).get("items"))

    def _learn_response(self, noted: _Pending, served: Served) -> None:
        response_id = served.response_id or noted.path_id
        if response_id is None:
            return  # an answer that names no response (an error, a cut stream before its first event)
        response = self._responses.setdefault(response_id, _Response())
        _keep(response.items, served.output)
        if noted.path_id is not None:
            return  # a retrieve, a cancel, a resumed stream: it shows the response, it did not make it
        request = _parse(noted.request)
        response.previous, response.input = request.get("previous_response_id"), _paired(request.get("input"))
        conversation_id = served.conversation_id or _conversation_named(request)
        if conversation_id is not None:
            conversation = self._conversations.setdefault(conversation_id, _Conversation())
            if response_id not in conversation.responses:
                conversation.responses.append(response_id)


def _conversation_named(body: dict[str, Any]) -> str | None:
    """The conversation a create request runs on: ``"conversation": "conv_..."`` or ``{"id": "conv_..."}``."""
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    return conversation if isinstance(conversation, str) else None


def _paired(items: Any) -> list[Any]:
    """The items of an ``input`` (or a list) that pair up; a string input has none."""
    if not isinstance(items, list | tuple):
        return []
    return [item for item in items if isinstance(item, dict) and item.get("type") in PAIRED_KINDS]


def _keep(kept: dict[tuple[str, str], Any], items: Any) -> None:
    """Add the paired items among ``items`` to ``kept``, one per type and call id."""
    for item in _paired(items):
        call_id = item.get("call_id")
        if isinstance(call_id, str):
            kept[(item["type"], call_id)] = item


def _parse(request: bytes | RequestSource) -> dict[str, Any]:
    content = request if isinstance(request, bytes) else request.request_content()
    if not content:
        return {}
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
