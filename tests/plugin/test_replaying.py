"""The plugin's replay host: one server per pytest process, each test's cassettes a session on it (real sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai import NotFoundError, OpenAI

from rec.normalize import Normalizer
from rec.testing.replaying import HostedReplay, ReplayHost
from tests.plugin.support import hello_cassette


def ask(url: str) -> str:
    with OpenAI(base_url=url, api_key="k", max_retries=0).responses.create(model="gpt-test", input="say hello",
                                                                           stream=True) as stream:
        return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


def test_an_ended_tests_session_answers_404_and_the_next_tests_is_served(tmp_path: Path) -> None:
    cassette = hello_cassette(tmp_path / "hello.mpk")
    host = ReplayHost()
    try:
        def replay() -> HostedReplay:
            return host.replay([cassette], match="sequence", timing="none", repeat=True, normalizer=Normalizer(),
                               validate=True, faults=())

        first = replay()
        assert ask(first.url) == "Hello from the cassette"
        assert [event.kind for event in first.end()] == []
        with pytest.raises(NotFoundError):  # a client left over from an ended test reaches nothing
            ask(first.url)
        second = replay()
        assert ask(second.url) == "Hello from the cassette"
        assert second.end() == [] and len(second.log.requests()) == 1
    finally:
        host.close()
