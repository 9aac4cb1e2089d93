"""Fixtures for the view's tests: cassettes written to the test's folder, a replay report from a real replay."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai import OpenAI

from replayer.server import ReplayServer
from tests.view import cassettes


@pytest.fixture
def codex_cassette(tmp_path: Path) -> Path:
    return cassettes.write(cassettes.codex_session(), tmp_path, "codex")


@pytest.fixture
def replay_report(tmp_path: Path, codex_cassette: Path) -> Path:
    """A `rec replay --report` of the Codex session, from the openai SDK against the replayer: the first turn
    asked with other words (drift), one request that breaks an invariant, the rest never asked (unused)."""
    with ReplayServer.from_cassettes([codex_cassette]) as server:
        client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        asked = cassettes._request()
        asked["input"] = [{"type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "Add a friendly greeting to hello.py"}]}]
        with client.responses.create(**asked) as stream:
            assert [event.type for event in stream][-1] == "response.completed"
        with pytest.raises(openai.BadRequestError):
            client.responses.create(model=cassettes.MODEL, input=[
                {"type": "function_call_output", "call_id": "call_nowhere", "output": "orphan"}])
    path = tmp_path / "report.json"
    server.finish().write(path)
    return path
