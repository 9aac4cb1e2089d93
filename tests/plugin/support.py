"""What the plugin's tests share: an agent test for inner pytest runs, and cassettes to replay it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rec.synth.events import ev_assistant_message, ev_completed, ev_message_item_added, ev_response_created
from rec.synth.scenario import Scenario

AGENT_TEST = '''
from openai import OpenAI
import pytest

def ask(text):
    with OpenAI(max_retries=0).responses.create(model="gpt-test", input=text, stream=True) as stream:
        return "".join(e.delta for e in stream if e.type == "response.output_text.delta")

{marker}
def test_agent(rec_server):
    answer = ask("say hello")
    assert "ello" in answer, answer
    if rec_server.mode == "replay":
        assert rec_server.log.single_request().body_json()["input"] == "say hello"
'''


def hello_cassette(path: Path, text: str = "Hello from the cassette", turns: int = 1) -> Path:
    scenario = Scenario()
    for turn in range(turns):
        scenario.sse_turn([ev_response_created(f"r{turn}"), ev_message_item_added("m", ""),
                           {"type": "response.output_text.delta", "item_id": "m",
                                                              "output_index": 0, "content_index": 0, "delta": text},
                           ev_assistant_message("m", text), ev_completed(f"r{turn}")],
                          request={"model": "gpt-test", "input": "say hello", "stream": True})
    path.parent.mkdir(parents=True, exist_ok=True)
    scenario.write(path)
    return path


def write_test(pytester: pytest.Pytester, marker: str = "") -> Path:
    """The agent test, under the given marker line."""
    return pytester.makepyfile(test_demo=AGENT_TEST.format(marker=marker))


def write_source(pytester: pytest.Pytester, source: str) -> Path:
    return pytester.makepyfile(test_demo=textwrap.dedent(source))
