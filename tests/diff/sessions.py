"""An agent's session as the API streams it, built from the rec/synth `ev_*` builders, changeable one way at a time.

The session: (0) the user asks; the model reasons and calls `shell` to list the folder;
(1) the client sends the listing back; the model answers in text; (2) `/models`; (3) a
WebSocket with a prewarm and a turn answered in text. ``run`` changes every id and nothing
else, as a re-recording does; each other option changes exactly one thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rec.synth.events import (
    ev_assistant_message,
    ev_function_call,
    ev_message_item_added,
    ev_output_text_delta,
    ev_reasoning_item,
    ev_response_created,
    user_message_item,
)
from rec.synth.scenario import Scenario

MODEL = "gpt-5"


def usage(input_tokens: int = 1200, cached: int = 1000, output: int = 40, reasoning: int = 16) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output}


def final(response_id: str, output: list[Any], status: str = "completed", tokens: dict[str, Any] | None = None,
          ) -> dict[str, Any]:
    """The final event of a response: `response.completed`, or `response.failed` with its error."""
    response: dict[str, Any] = {"id": response_id, "object": "response", "model": MODEL, "status": status,
                                "output": output, "usage": tokens or usage()}
    if status == "failed":
        response["error"] = {"code": "server_error", "message": "The model failed."}
    return {"type": f"response.{status}", "response": response}


@dataclass(frozen=True)
class Session:
    run: str = "a"
    prompt: str = "List the files here, then say how many."
    reasoning: list[str] = field(default_factory=lambda: ["Listing the folder first."])
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=lambda: [("shell", {"command": ["ls", "-a"]})])
    listing: str = "a.txt\nb.txt\n"
    answer: str = "There are two files."
    answer_status: str = "completed"
    answer_http_status: int = 200
    answer_tokens: dict[str, Any] = field(default_factory=lambda: usage(output=8, reasoning=0))
    cut_first_after: int | None = None
    answered: bool = True  # False: the answer turn (1) is not in the cassette
    ws_answer: str = "Hello over the WebSocket."
    ws_error: bool = False  # the WebSocket turn ends with an `error` event instead of completing
    ws_turns: int = 2
    delay_ms: float = 30.0

    def changed(self, **changes: Any) -> Session:
        return replace(self, **changes)

    def ids(self, name: str) -> str:
        return f"{name}_{self.run}{name}0001"

    def first_request(self) -> dict[str, Any]:
        return {"model": MODEL, "input": [user_message_item(self.prompt)], "stream": True,
                "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
                "prompt_cache_key": f"cache-{self.run}"}

    def first_answer(self) -> tuple[list[Any], list[Any]]:
        """(events, output items) of the first answer."""
        items: list[dict[str, Any]] = []
        if self.reasoning:
            items.append(ev_reasoning_item(self.ids("rs"), self.reasoning, [])["item"])
        for n, (name, arguments) in enumerate(self.calls):
            items.append(ev_function_call(f"call_{self.run}ls{n:04d}", name, json.dumps(arguments))["item"])
        events = [ev_response_created(self.ids("resp1")),
                  *({"type": "response.output_item.done", "item": item} for item in items),
                  final(self.ids("resp1"), items)]
        return events, items

    def second_request(self, items: list[Any]) -> dict[str, Any]:
        outputs = [{"type": "function_call_output", "call_id": item["call_id"], "output": self.listing}
                   for item in items if item["type"] == "function_call"]
        return {**self.first_request(), "input": [user_message_item(self.prompt), *items, *outputs]}

    def scenario(self) -> Scenario:
        scenario = Scenario("agent session")
        events, items = self.first_answer()
        scenario.sse_turn(events, request=self.first_request(), delay_ms=self.delay_ms,
                          cut_after=self.cut_first_after)
        if self.answered:
            self._answer(scenario, items)
        scenario.models([{"slug": MODEL}])
        ws_turn = [ev_response_created(self.ids("resp3")), ev_message_item_added(self.ids("msg3"), ""),
                   ev_output_text_delta(self.ws_answer), ev_assistant_message(self.ids("msg3"), self.ws_answer)]
        message = ws_turn[-1]["item"]
        ws_turn.append({"type": "error", "error": {"code": "rate_limit_exceeded", "message": "Slow down."}}
                       if self.ws_error else final(self.ids("resp3"), [message]))
        turns = [({"type": "response.create", "model": MODEL, "generate": False, "input": []},
                  [ev_response_created(self.ids("resp2")), final(self.ids("resp2"), [], tokens=usage(0, 0, 0, 0))]),
                 ({"type": "response.create", "model": MODEL, "previous_response_id": self.ids("resp2"),
                   "input": [user_message_item("Say hello.")]}, ws_turn)]
        scenario.websocket(turns[: self.ws_turns])
        return scenario

    def _answer(self, scenario: Scenario, items: list[Any]) -> None:
        request = self.second_request(items)
        if self.answer_http_status != 200:
            scenario.json_turn({"error": {"type": "server_error", "message": "Upstream failed."}},
                               request=request, status=self.answer_http_status)
            return
        message = ev_assistant_message(self.ids("msg2"), self.answer)
        output = [] if self.answer_status == "failed" else [message["item"]]
        body = [ev_message_item_added(self.ids("msg2"), ""), ev_output_text_delta(self.answer), message]
        scenario.sse_turn([ev_response_created(self.ids("resp2")), *(body if output else []),
                           final(self.ids("resp2"), output, self.answer_status, self.answer_tokens)],
                          request=request, delay_ms=self.delay_ms)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.scenario().write(path)
        return path
