"""The API's state with the openai SDK: conversations, background responses (polled, or streamed, cut and resumed),
recorded through rec against the stateful stand-in and replayed in both match modes with no false alarm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.clients.support import RoundTrip, assert_clean, record, replay
from tests.support.stateful import StatefulUpstream

pytestmark = pytest.mark.slow

TOOLS: Any = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {}}}]


def sdk(url: str) -> OpenAI:
    return OpenAI(base_url=url, api_key="sk-test", max_retries=0)


def tool_output(response: Any) -> list[dict[str, str]]:
    [call] = [item for item in response.output if item.type == "function_call"]
    return [{"type": "function_call_output", "call_id": call.call_id, "output": "hi"}]


def conversation_tool_loop(url: str) -> list[Any]:
    """The tool loop on a conversation: the call is stored there, the next request sends only its output."""
    client = sdk(url)
    conversation = client.conversations.create(metadata={"topic": "test"})
    first = client.responses.create(model="gpt-test", input="run it", tools=TOOLS, conversation=conversation.id)
    second = client.responses.create(model="gpt-test", input=tool_output(first), tools=TOOLS,
                                     conversation=conversation.id)
    items = client.conversations.items.list(conversation.id, order="asc")
    return [[item.type for item in first.output], second.output_text, [item.type for item in items.data]]


def background_polled_then_chained(url: str) -> list[Any]:
    client = sdk(url)
    response = client.responses.create(model="gpt-test", input="run it", tools=TOOLS, background=True)
    statuses = [response.status]
    while response.status in ("queued", "in_progress"):
        response = client.responses.retrieve(response.id)
        statuses.append(response.status)
    follow = client.responses.create(model="gpt-test", input=tool_output(response), tools=TOOLS,
                                     previous_response_id=response.id)
    return [sorted(set(statuses)), follow.output_text]


def background_stream_cut_resumed_then_chained(url: str, resume_after: int | None = None) -> list[Any]:
    """Read a background stream to its first output item, leave, resume it after the last event seen, chain."""
    client = sdk(url)
    seen: list[str] = []
    response_id, cursor = "", -1
    with client.responses.create(model="gpt-test", input="run it", tools=TOOLS, background=True,
                                 stream=True) as stream:
        for event in stream:
            seen.append(event.type)
            cursor = event.sequence_number
            if event.type == "response.created":
                response_id = event.response.id
            if event.type == "response.output_item.added":
                break
    completed: Any = None
    resumed = client.responses.retrieve(response_id, stream=True,
                                        starting_after=cursor if resume_after is None else resume_after)
    for event in resumed:
        seen.append(event.type)
        if event.type == "response.completed":
            completed = event.response
    follow = client.responses.create(model="gpt-test", input=tool_output(completed), tools=TOOLS,
                                     previous_response_id=response_id)
    return [seen, follow.output_text]


def trip_in(mode: str, client: Any, tmp_path: Path) -> RoundTrip:
    cassette = tmp_path / "state.mpk"
    # Gaps between events, as the API streams: a client can leave a stream before its end.
    recorded = record(client, cassette, kind=StatefulUpstream, gap_s=0.05)
    replayed, rc, summary, log = replay(client, [cassette], "--match", mode)
    return RoundTrip(recorded, replayed, rc, summary, log)


@pytest.mark.parametrize("mode", ["sequence", "body"])
def test_a_tool_loop_on_a_conversation_replays_clean(tmp_path: Path, mode: str) -> None:
    trip = trip_in(mode, conversation_tool_loop, tmp_path)
    assert trip.recorded[0] == ["function_call"] and trip.recorded[1] == "The command printed: hi"
    assert trip.recorded[2] == ["message", "function_call", "function_call_output", "message"]
    assert_clean(trip)


@pytest.mark.parametrize("mode", ["sequence", "body"])
def test_a_background_response_polled_then_chained_replays_clean(tmp_path: Path, mode: str) -> None:
    trip = trip_in(mode, background_polled_then_chained, tmp_path)
    assert "queued" in trip.recorded[0] and "completed" in trip.recorded[0]
    assert_clean(trip)


@pytest.mark.parametrize("mode", ["sequence", "body"])
def test_a_background_stream_cut_resumed_and_chained_replays_clean(tmp_path: Path, mode: str) -> None:
    trip = trip_in(mode, background_stream_cut_resumed_then_chained, tmp_path)
    seen = trip.recorded[0]
    assert seen.count("response.output_item.added") == 1 and seen[-1] == "response.completed"
    assert_clean(trip)


def test_a_resumed_stream_asking_for_other_events_is_reported(tmp_path: Path) -> None:
    cassette = tmp_path / "state.mpk"
    record(background_stream_cut_resumed_then_chained, cassette, kind=StatefulUpstream, gap_s=0.05)
    _, _, summary, log = replay(lambda url: background_stream_cut_resumed_then_chained(url, resume_after=0),
                                [cassette])
    # Served what was recorded (sequence mode), and said so: a test under the pytest plugin fails on it.
    assert summary["drifted"] == 1, log
    assert "query starting_after: recorded" in log and "received 0" in log


def pydantic_ai_on_a_conversation(url: str) -> list[Any]:
    """pydantic-ai's agent with a tool, its state kept in an OpenAI conversation (``openai_conversation_id``)."""
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel, OpenAIResponsesModelSettings
    from pydantic_ai.providers.openai import OpenAIProvider

    conversation = sdk(url).conversations.create()
    model = OpenAIResponsesModel("gpt-test", provider=OpenAIProvider(base_url=url, api_key="sk-test"))
    agent = Agent(model, model_settings=OpenAIResponsesModelSettings(openai_conversation_id=conversation.id))

    @agent.tool_plain
    def exec_command(cmd: str) -> str:
        """Run a shell command and return what it printed."""
        return "hi" if cmd == "echo hi" else "?"

    result = agent.run_sync("run it")
    return [result.output, [type(part).__name__ for message in result.all_messages() for part in message.parts]]


@pytest.mark.parametrize("mode", ["sequence", "body"])
def test_pydantic_ai_on_a_conversation_replays_clean(tmp_path: Path, mode: str) -> None:
    trip = trip_in(mode, pydantic_ai_on_a_conversation, tmp_path)
    assert trip.recorded[0] == "The command printed: hi" and "ToolCallPart" in trip.recorded[1]
    assert_clean(trip)


def agents_js_on_a_conversation(url: str) -> Any:
    done = subprocess.run(["node", str(Path(__file__).with_name("agents_client.mjs")), url], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
@pytest.mark.parametrize("mode", ["sequence", "body"])
def test_agents_js_on_a_conversation_replays_clean(tmp_path: Path, mode: str) -> None:
    trip = trip_in(mode, agents_js_on_a_conversation, tmp_path)
    assert trip.recorded["output"] == "The command printed: hi"
    assert "tool_call_item" in trip.recorded["items"] and "tool_call_output_item" in trip.recorded["items"]
    assert_clean(trip)
