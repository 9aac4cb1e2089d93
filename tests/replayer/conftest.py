"""Fixtures for replayer tests: cassettes built by hand, servers on port 0 that always shut down."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from replayer.server import ReplayServer


def post(server: ReplayServer, path: str, body: bytes | dict[str, Any] | list[Any],
         headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request to the server (stdlib client): status, lowercased headers, body."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path, body=raw, headers={"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


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
