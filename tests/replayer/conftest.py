"""Fixtures for replayer tests: cassettes built by hand, servers on port 0 that always shut down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from replayer.server import ReplayServer


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(exchanges, **options) -> a started ReplayServer, stopped at the end of the test."""
    started: list[ReplayServer] = []

    def start(exchanges: list[Any], **options: Any) -> ReplayServer:
        server = ReplayServer(exchanges, **options)
        server.__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
