"""What every replay host shares: a listening socket, its open connections, its tasks, and a clean stop.

``ReplayServer`` (one core) and ``SessionHub`` (`rec serve`, a core per session) are hosts;
each decides which core a request target reaches (the ``replayer.hub.Hub`` they implement).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from rec.urls import origin
from replayer.answers import HttpAnswer
from replayer.core import ReplayCore
from replayer.hub import Connection
from replayer.limits import Limits
from replayer.request_log import ResponsesRequest


class Host:
    """Listens on host:port with HttpConnection, tracks connections and tasks, and closes them all on stop."""

    def __init__(self, host: str, port: int, limits: Limits | None) -> None:
        self.host = host
        self.port = port
        self.limits = limits or Limits()
        self.connections: set[Connection] = set()
        self.closing = False  # set while shutting down: connections dropped by us are not the client's doing
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    @property
    def origin(self) -> str:
        """``http://HOST:PORT``, an IPv6 address in brackets (RFC 3986 3.2.2) so the port is not read as part of it."""
        return origin(self.host, self.port)

    def core_for(self, target: str) -> tuple[ReplayCore, str] | None:
        """The core that serves a request target (``replayer.hub.Hub``); each host routes its own way."""
        raise NotImplementedError

    def control(self, request: ResponsesRequest) -> HttpAnswer:
        """The answer for a request no core serves (``replayer.hub.Hub``)."""
        raise NotImplementedError

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def listen(self) -> None:
        """Listen on host:port (port 0 picks a free one); raises OSError when the port is taken."""
        from replayer.http import HttpConnection, sweep_timeouts

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: HttpConnection(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        self.spawn(sweep_timeouts(self))

    async def stop_listening(self) -> None:
        """Stop accepting, drop open connections, cancel the tasks."""
        self.closing = True
        if self._server is None:
            return
        self._server.close()
        for connection in list(self.connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
