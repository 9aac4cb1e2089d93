"""openai-agents (PyPI): an Agent with a function tool, run sync and streamed, chained or not, recorded and replayed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.clients.support import assert_clean, round_trip

pytestmark = pytest.mark.slow


def run_agent(base_url: str, *, streamed: bool, chained: bool) -> list[Any]:
    """What the agent produced: its final output and the kinds of items of its run."""
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)  # traces would go to api.openai.com

    @function_tool
    def run_command(cmd: str) -> str:
        """Run a shell command and return what it printed."""
        return f"ran {cmd}"

    model = OpenAIResponsesModel(model="gpt-test", openai_client=AsyncOpenAI(base_url=base_url, api_key="sk-test",
                                                                             max_retries=0))
    agent = Agent(name="helper", instructions="Use the tool.", tools=[run_command], model=model)
    if streamed:
        async def stream() -> Any:
            result = Runner.run_streamed(agent, "say hi", auto_previous_response_id=chained)
            async for _ in result.stream_events():
                pass
            return result
        result = asyncio.run(stream())
    else:
        result = Runner.run_sync(agent, "say hi", auto_previous_response_id=chained)
    return [result.final_output, [type(item).__name__ for item in result.new_items]]


@pytest.mark.parametrize("streamed", [False, True], ids=["run_sync", "run_streamed"])
@pytest.mark.parametrize("chained", [False, True], ids=["whole-history", "auto_previous_response_id"])
def test_an_agent_run_replays_clean(tmp_path: Path, streamed: bool, chained: bool) -> None:
    trip = round_trip(lambda url: run_agent(url, streamed=streamed, chained=chained), tmp_path)
    assert trip.recorded[0] == "The command printed: ran echo hi"
    assert "ToolCallItem" in trip.recorded[1] and "ToolCallOutputItem" in trip.recorded[1]
    assert_clean(trip)
