"""The replay server: serves recorded (or mounted) answers and checks every request it gets.

Build one from cassettes or in-memory exchanges, use it as a context manager (sync,
running on its own thread, or async, on the running loop), point a client at ``.url``::

    with ReplayServer.from_cassettes(["run.mpk"]) as server:
        client = OpenAI(base_url=server.url, api_key="test")
        ...
        assert server.log.single_request().has_function_call("call_1")

What a request gets is decided by the transport-free core (``replayer.core``); this
class owns the listening socket, the open connections and the server's lifetime.

Building on it (mocks, synthesized answers): ``add_exchanges`` adds recorded-style
exchanges at runtime; ``mount(Rule(method, path, answers, predicate=..., max_uses=...))``
adds a rule checked before the recorded exchanges, whose ``log`` holds the requests it
served. Answers come from ``replayer.answers`` (``compile_exchange``, ``sse_answer``,
``json_answer``, ``WebSocketAnswer``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rec.cassette import Exchange
from rec.normalize import Normalizer
from replayer.answers import HttpAnswer
from replayer.core import ReplayCore
from replayer.faults import Fault
from replayer.hosting import Host
from replayer.limits import Limits
from replayer.match_modes import MatchMode
from replayer.matching import Matcher, Rule
from replayer.pacing import parse_timing
from replayer.report import Report
from replayer.request_log import RequestLog, ResponsesRequest
from replayer.runner import ThreadedRunner

# Loop passes before a stop while connections are open: one polls the sockets, and the callbacks a hang-up
# schedules (the read error, the close, connection_lost) each run on a later pass; asyncio's loop and uvloop
# both need four. Each pass polls without waiting.
SETTLE_PASSES = 8


class ReplayServer(Host):
    """A mock Responses API server answering from recorded exchanges and mounted rules."""

    def __init__(self, exchanges: Iterable[Exchange] = (), *, host: str = "127.0.0.1", port: int = 0,
                 timing: str = "none", match: MatchMode | str = MatchMode.sequence, repeat: bool = False,
                 ignore: Sequence[str] = (), normalizer: Normalizer | None = None,
                 validate: bool = True, keep_requests: bool = True,
                 emit: Callable[[str], None] | None = None, log_requests: bool = False,
                 faults: Sequence[str | Fault] = (), limits: Limits | None = None,
                 forward_to: tuple[str, int] | None = None) -> None:
        super().__init__(host, port, limits)
        self.core = ReplayCore(match=match, normalizer=normalizer, repeat=repeat, ignore=ignore, validate=validate,
                               keep_requests=keep_requests, faults=faults, pace=parse_timing(timing),
                               report=Report(emit=emit), log_served=log_requests,
                               decoded_body_limit=self.limits.decoded_body, forward_to=forward_to)
        self.warnings: list[str] = []
        self._runner: ThreadedRunner | None = None
        self.add_exchanges(exchanges)

    @classmethod
    def from_cassettes(cls, paths: Iterable[str | os.PathLike[str]], **options: Any) -> ReplayServer:
        """Serve the exchanges of these cassettes, in order; a damaged tail is a warning, not an error.

        Raises rec.cassette.CassetteError for a file that is not a cassette, and FaultSpecError
        for a fault on an exchange the cassettes do not hold (it would never fire).
        """
        server = cls(**options)
        server.warnings.extend(server.core.load(paths))
        return server

    # --- what the core holds ----------------------------------------------------------

    @property
    def report(self) -> Report:
        return self.core.report

    @property
    def log(self) -> RequestLog:
        """Every request served, for tests to inspect."""
        return self.core.log

    @property
    def matcher(self) -> Matcher:
        return self.core.matcher

    @property
    def pace(self) -> float | None:
        return self.core.pace

    def add_exchanges(self, exchanges: Iterable[Exchange], source: str = "") -> int:
        """Add exchanges to serve (also while serving); returns how many can be served."""
        return self.core.matcher.add_exchanges(exchanges, source)

    def mount(self, rule: Rule, fallback: bool = False) -> Rule:
        """Add a rule answered before any recorded exchange; its ``log`` fills as it serves.

        A ``fallback`` rule is tried after every other rule, including those mounted later.
        """
        return self.core.matcher.mount(rule, fallback)

    @property
    def url(self) -> str:
        """The base URL for clients, with /v1."""
        return f"{self.origin}/v1"

    # --- what connections need (replayer.http.Hub) ------------------------------------

    def core_for(self, target: str) -> tuple[ReplayCore, str]:
        return self.core, target

    def control(self, request: ResponsesRequest) -> HttpAnswer:
        raise AssertionError("every target has a core on a ReplayServer")

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> ReplayServer:
        """Listen on host:port (port 0 picks a free one); raises OSError when the port is taken."""
        await self.listen()
        return self

    async def aclose(self) -> Report:
        """Stop listening, drop open connections, and fill in the unused exchanges; returns the report."""
        # A client that just hung up has its FIN or RST waiting in the kernel: let the loop poll it and run
        # what it schedules (an unread stream reported) before the connections we drop stop counting as the
        # client's. No connection open (clients that closed in time): nothing to wait for.
        for _ in range(SETTLE_PASSES if self.connections else 0):
            await asyncio.sleep(0)
        await self.stop_listening()
        return self.finish()

    def finish(self) -> Report:
        """Add an `unused` event per recorded exchange (or WebSocket turn) never served; once."""
        return self.core.finish()

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> ReplayServer:
        self._runner = ThreadedRunner("rec-replay")
        try:
            self._runner.run(self.start)
        except BaseException:
            self._runner.stop()
            self._runner = None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            try:
                self._runner.run(self.aclose)
            finally:
                self._runner.stop()
                self._runner = None
