"""The bundled example: a coding agent's short session, built from ev_* builders.

`rec synth cassettes/example_scenario.py -o cassettes/example.mpk` rebuilds
cassettes/example.mpk; `make demo` replays it to the openai SDK.

1. The user asks; the model reasons and calls `exec_command` to list files.
2. The client sends the command's output; the model answers, streaming its text.
3. The conversation is compacted; `/models` is listed (with an ETag).
4. Over the WebSocket: a prewarm (`generate: false`), then a turn on the same connection.
"""

from rec.synth.events import (
    ev_assistant_message,
    ev_completed,
    ev_function_call,
    ev_message_item_added,
    ev_output_text_delta,
    ev_reasoning_item,
    ev_reasoning_item_added,
    ev_reasoning_summary_text_delta,
    ev_response_created,
    user_message_item,
)
from rec.synth.scenario import Scenario

MODEL = "gpt-5-codex"
PROMPT = "What files are in this folder?"
CALL_ID = "call_ls_1"
LISTING = "README.md\nexample.mpk\n"
ANSWER = "This folder holds README.md and example.mpk."


def first_request() -> dict:
    return {"model": MODEL, "input": [user_message_item(PROMPT)], "stream": True,
            "tools": [{"type": "function", "name": "exec_command",
                       "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]}


def second_request() -> dict:
    call = {"type": "function_call", "call_id": CALL_ID, "name": "exec_command", "arguments": '{"cmd":"ls"}'}
    output = {"type": "function_call_output", "call_id": CALL_ID, "output": LISTING}
    body = first_request()
    body["input"] = [*body["input"], call, output]
    return body


def scenario() -> Scenario:
    words = ANSWER.split(" ")
    deltas = [ev_output_text_delta(w + (" " if i < len(words) - 1 else "")) for i, w in enumerate(words)]
    return (
        Scenario("example: list files, answer, compact, models, websocket")
        .sse_turn([
            ev_response_created("resp_example1"),
            ev_reasoning_item_added("rs_example1", ["Listing the folder"]),
            ev_reasoning_summary_text_delta("Listing the folder"),
            ev_reasoning_item("rs_example1", ["Listing the folder"], ["I should run ls."]),
            ev_function_call(CALL_ID, "exec_command", '{"cmd":"ls"}'),
            ev_completed("resp_example1"),
        ], request=first_request(), delay_ms=40)
        .sse_turn([
            ev_response_created("resp_example2"),
            ev_message_item_added("msg_example2", ""),
            *deltas,
            ev_assistant_message("msg_example2", ANSWER),
            ev_completed("resp_example2"),
        ], request=second_request(), delay_ms=25)
        .compact([user_message_item(PROMPT),
                  {"type": "compaction", "id": "cmp_example1", "encrypted_content": "c3VtbWFyeQ=="}])
        .models([{"slug": MODEL, "display_name": "GPT-5 Codex"}], etag='"models-example-1"')
        .websocket([
            ({"type": "response.create", "model": MODEL, "generate": False, "input": [user_message_item(PROMPT)]},
             [ev_response_created("resp_example_ws0"), ev_completed("resp_example_ws0")]),
            ({"type": "response.create", "model": MODEL, "previous_response_id": "resp_example_ws0",
              "input": [user_message_item(PROMPT)]},
             [ev_response_created("resp_example_ws1"), ev_message_item_added("msg_example_ws1", ""),
              ev_output_text_delta("Hello over the WebSocket."),
              ev_assistant_message("msg_example_ws1", "Hello over the WebSocket."),
              ev_completed("resp_example_ws1")]),
        ], headers=[("x-reasoning-included", "true")])
    )
