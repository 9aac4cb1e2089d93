"""Raw HTTP requests to a replay server under test, with the standard library's client."""

from __future__ import annotations

import http.client
import json
from typing import Any

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
