"""API-shaped cassettes for the view's tests, built from the ev_* builders (no recording)."""

from __future__ import annotations

from pathlib import Path

from rec.cassette import End, HttpExchange, Request
from rec.synth.events import (
    ev_apply_patch_custom_tool_call,
    ev_assistant_message,
    ev_completed,
    ev_completed_with_tokens,
    ev_function_call,
    ev_message_item_added,
    ev_output_text_delta,
    ev_reasoning_item,
    ev_reasoning_item_added,
    ev_reasoning_summary_text_delta,
    ev_response_created,
    ev_web_search_call_done,
    user_message_item,
)
from rec.synth.scenario import Scenario

MODEL = "gpt-5-codex"
INSTRUCTIONS = "You are Codex, a coding agent.\n" + "Follow the repository's conventions.\n" * 40
TOOLS = [{"type": "function", "name": "shell_command",
          "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}},
         {"type": "custom", "name": "apply_patch"}, {"type": "web_search"}]
PROMPT = "Add a greeting to hello.py"
PATCH = "*** Begin Patch\n*** Update File: hello.py\n@@\n-print('hi')\n+print('hello, world')\n*** End Patch"
ANSWER = "Done: hello.py now prints a friendly greeting."
SECRET_HEADERS = [("authorization", "Bearer [REDACTED]"), ("openai-organization", "[REDACTED]"),
                  ("originator", "codex_cli_rs")]


def _request(*items: dict) -> dict:
    return {"model": MODEL, "instructions": INSTRUCTIONS, "input": [user_message_item(PROMPT), *items],
            "tools": TOOLS, "stream": True, "prompt_cache_key": "session-1"}


SHELL_CALL = {"type": "function_call", "call_id": "call_sh_1", "name": "shell_command",
              "arguments": '{"command":"cat hello.py","workdir":"/repo"}'}
SHELL_OUTPUT = {"type": "function_call_output", "call_id": "call_sh_1", "output": "print('hi')\n"}
PATCH_CALL = {"type": "custom_tool_call", "call_id": "call_patch_1", "name": "apply_patch", "input": PATCH}
PATCH_OUTPUT = {"type": "custom_tool_call_output", "call_id": "call_patch_1", "output": "Success. Updated hello.py"}


def codex_session() -> Scenario:
    """A Codex-like session: reasoning and a shell call, a patch, a web search and an answer, a compaction."""
    words = ANSWER.split(" ")
    deltas = [ev_output_text_delta(w + (" " if i < len(words) - 1 else "")) for i, w in enumerate(words)]
    return (
        Scenario("codex session")
        .sse_turn([
            ev_response_created("resp_1"),
            ev_reasoning_item_added("rs_1", []),
            ev_reasoning_summary_text_delta("Reading the file first"),
            ev_reasoning_item("rs_1", ["Reading the file first"], ["I need to see hello.py."]),
            ev_function_call("call_sh_1", "shell_command", SHELL_CALL["arguments"]),
            ev_completed_with_tokens("resp_1", 1234),
        ], request=_request(), delay_ms=35, headers=SECRET_HEADERS)
        .sse_turn([
            ev_response_created("resp_2"),
            ev_apply_patch_custom_tool_call("call_patch_1", PATCH),
            ev_completed("resp_2"),
        ], request=_request(SHELL_CALL, SHELL_OUTPUT), delay_ms=50)
        .sse_turn([
            ev_response_created("resp_3"),
            ev_web_search_call_done("ws_1", "completed", "python print greeting idiom"),
            ev_message_item_added("msg_3", ""),
            *deltas,
            ev_assistant_message("msg_3", ANSWER),
            ev_completed("resp_3"),
        ], request=_request(SHELL_CALL, SHELL_OUTPUT, PATCH_CALL, PATCH_OUTPUT), delay_ms=20)
        .compact([user_message_item(PROMPT),
                  {"type": "compaction", "id": "cmp_1", "encrypted_content": "c3VtbWFyeQ=="}],
                 request={"model": MODEL, "input": [user_message_item(PROMPT)]})
        .models([{"slug": MODEL}], etag='"m1"')
    )


def websocket_two_turns() -> Scenario:
    """One WebSocket connection: a prewarm, then a turn that chains to it and answers with text."""
    return Scenario("websocket").websocket([
        ({"type": "response.create", "model": MODEL, "generate": False, "input": [user_message_item("warm up")]},
         [ev_response_created("resp_w0"), ev_completed("resp_w0")]),
        ({"type": "response.create", "model": MODEL, "previous_response_id": "resp_w0",
          "input": [user_message_item("Say hello over the socket")]},
         [ev_response_created("resp_w1"), ev_message_item_added("msg_w1", ""),
          ev_output_text_delta("Hello over "), ev_output_text_delta("the socket."),
          ev_assistant_message("msg_w1", "Hello over the socket."), ev_completed("resp_w1")]),
    ])


CUT_TEXT = "The answer was cut off right "


def cut_stream() -> Scenario:
    """A stream that pauses for 1.5 s, then is cut before its message is done (a recorded fault)."""
    scenario = Scenario("cut").sse_turn([
        ev_response_created("resp_cut"),
        ev_message_item_added("msg_cut", ""),
        ev_output_text_delta("The answer was "),
        ev_output_text_delta("cut off right "),
        ev_assistant_message("msg_cut", "never sent"),
        ev_completed("resp_cut"),
    ], request={"model": MODEL, "input": "Tell me a long story", "stream": True}, delay_ms=20, cut_after=4)
    exchange = scenario.exchanges[-1]
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    chunks = exchange.response.chunks
    chunks[-1] = (chunks[-1][0] + 1500.0, chunks[-1][1])  # the last event comes after a long pause
    exchange.end = End(state="error", error="cut", message="stream closed after 4 event(s)", at_ms=chunks[-1][0])
    return scenario


def failures() -> Scenario:
    """What goes wrong: a rate limit as JSON, a failed stream, and a request no answer came back to."""
    scenario = (
        Scenario("failures")
        .json_turn({"error": {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}},
                   status=429, request={"model": MODEL, "input": "once more"}, delay_ms=8)
        .sse_turn([ev_response_created("resp_f"), {"type": "response.failed", "response": {
            "id": "resp_f", "status": "failed", "error": {"code": "server_error", "message": "the model broke"}}}],
                  request={"model": MODEL, "input": "and again", "stream": True}, delay_ms=30)
    )
    scenario.exchanges.append(HttpExchange(Request("POST", "/v1/responses", body=b'{"input": "hello?"}'), None,
                                           End(state="error", error="upstream_unreachable",
                                               message="connection refused", at_ms=3.0)))
    return scenario


def many_exchanges(count: int) -> Scenario:
    """``count`` short streamed turns, each with its own prompt and answer."""
    scenario = Scenario("many")
    for n in range(count):
        scenario.sse_turn([ev_response_created(f"resp_{n}"), ev_message_item_added(f"msg_{n}", ""),
                           ev_output_text_delta(f"Answer {n}."), ev_assistant_message(f"msg_{n}", f"Answer {n}."),
                           ev_completed(f"resp_{n}")],
                          request={"model": "gpt-5", "input": [user_message_item(f"question number {n}")],
                                   "stream": True}, delay_ms=3)
    return scenario


def write(scenario: Scenario, folder: Path, name: str) -> Path:
    path = folder / f"{name}.mpk"
    scenario.write(path)
    return path
