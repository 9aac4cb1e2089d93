"""What a wire connection needs from the host that accepted it: ``Hub``, implemented by ``replayer.hosting.Host``.

Kept apart from the adapters (``replayer.http``, ``replayer.websocket``) and the hosts so
that neither side imports the other to name it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

from replayer.answers import HttpAnswer
from replayer.core import ReplayCore
from replayer.limits import Limits
from replayer.request_log import ResponsesRequest


class Connection(Protocol):
    """An open client connection, as its host sees it: swept for timeouts, aborted on stop."""

    def check_timeouts(self, now: float) -> None: ...

    def abort(self) -> None: ...

    def cores_in_use(self) -> list[ReplayCore]:
        """The cores it serves from now (an open WebSocket's, an answer still going out): not idle, whatever the
        time since its last request."""
        ...


class Hub(Protocol):
    """The host of a connection: which core serves a target, the limits, and the open connections."""

    closing: bool  # set while shutting down: connections dropped then are not the client's doing
    connections: set[Connection]
    limits: Limits

    def core_for(self, target: str) -> tuple[ReplayCore, str] | None:
        """The core that serves a request target, and the target as that core sees it; None: not a replay URL."""
        ...

    def control(self, request: ResponsesRequest) -> HttpAnswer:
        """The answer for a request no core serves (a control API, or a 404)."""
        ...

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
