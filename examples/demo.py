"""The README's demo: `rec replay` serves cassettes/example.mpk to the real openai SDK.

It starts `rec replay` as a user would, plays the client side of the example
conversation (a streamed tool call, the tool's output sent back, the streamed answer,
a compaction, /models, a WebSocket turn), then stops the replayer with Ctrl-C's
signal and shows its summary: what was served, and whether every request was valid.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from openai import OpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cassettes"))
from example_scenario import CALL_ID, LISTING, MODEL, PROMPT, first_request  # noqa: E402


def main() -> int:
    rec = Path(sys.executable).parent / "rec"
    replay = subprocess.Popen([str(rec), "replay", str(ROOT / "cassettes" / "example.mpk"), "--timing", "recorded"],
                              stdout=subprocess.PIPE, text=True)
    assert replay.stdout is not None
    url = replay.stdout.readline().strip()
    print(f"rec replay is serving cassettes/example.mpk at {url}\n")
    client = OpenAI(base_url=url, api_key="sk-demo-not-a-real-key", max_retries=0)
    tools = first_request()["tools"]

    print(f"user> {PROMPT}")
    question = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}
    call = None
    for event in client.responses.create(model=MODEL, input=[question], tools=tools, stream=True):
        if event.type == "response.output_item.done" and event.item.type == "function_call":
            call = event.item
            print(f"model> calls {call.name}({call.arguments})")
    assert call is not None and call.call_id == CALL_ID
    history = [question,
               {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": LISTING}]
    print("model> ", end="", flush=True)
    for event in client.responses.create(model=MODEL, input=history, tools=tools, stream=True):
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
    print()
    compacted = client.responses.compact(model=MODEL, input=history[:1])
    print(f"compact> {[item.type for item in compacted.output]}")
    models = client.models.with_raw_response.list()
    print(f"models> ETag {models.headers.get('etag')}")
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input=[history[0]], generate=False)
        for ws_event in connection:
            if ws_event.type == "response.completed":
                previous = ws_event.response.id
                break
        connection.response.create(model=MODEL, input=[history[0]], previous_response_id=previous)
        for ws_event in connection:
            if ws_event.type == "response.output_text.delta":
                print(f"websocket> {ws_event.delta}")
            if ws_event.type == "response.completed":
                break

    print("\nstopping rec replay (SIGINT); its summary:")
    replay.send_signal(signal.SIGINT)
    return replay.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
