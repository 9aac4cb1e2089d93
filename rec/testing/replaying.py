"""Replaying for the pytest plugin: one replay server per pytest process, each test's cassettes a session on it.

A test pays for loading its cassettes and nothing else: no server to start and stop, no thread,
no port. The server is the `rec serve` host (``replayer.sessions.SessionHub``) run in this
process on its own thread, started by the first test that replays and stopped at the end of the
run; sessions are added and ended directly, not over HTTP, and are never reaped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass

from rec.normalize import Normalizer
from replayer.core import ReplayCore
from replayer.pacing import parse_timing
from replayer.report import ReportEvent
from replayer.request_log import RequestLog
from replayer.runner import ThreadedRunner
from replayer.server import SETTLE_PASSES
from replayer.sessions import Session, SessionHub


@dataclass
class HostedReplay:
    """One test's replay: its session's base URL, its request log, and (at the end) its report's events."""

    host: ReplayHost
    session: Session
    url: str
    warnings: list[str]
    _events: list[ReportEvent] | None = None

    @property
    def log(self) -> RequestLog:
        return self.session.core.log

    def end(self) -> list[ReportEvent]:
        """End the session once the client's last moves have reached the server; the report's events (once)."""
        if self._events is None:
            self.host.settle()
            self.host.hub.remove_session(self.session)  # its URL answers 404 from now on, as on rec serve
            self._events = list(self.session.core.finish().events)
        return self._events


class ReplayHost:
    """The replay server of this pytest process, started on first use."""

    def __init__(self) -> None:
        self._runner: ThreadedRunner | None = None
        self._hub: SessionHub | None = None

    @property
    def hub(self) -> SessionHub:
        if self._hub is None:
            self._runner = ThreadedRunner("rec-pytest-replay")
            hub = SessionHub()
            self._runner.run(hub.listen)  # listening only: sessions come and go with tests, none is reaped
            self._hub = hub
        return self._hub

    def replay(self, paths: Sequence[os.PathLike[str] | str], *, match: str, timing: str, repeat: bool,
               normalizer: Normalizer, validate: bool, faults: Sequence[str]) -> HostedReplay:
        """A session serving these cassettes; CassetteError or FaultSpecError as ReplayServer raises them."""
        hub = self.hub
        core = ReplayCore(match=match, normalizer=normalizer, repeat=repeat, validate=validate, faults=faults,
                          pace=parse_timing(timing), keep_requests=True, decoded_body_limit=hub.limits.decoded_body)
        warnings = core.load(paths)
        session = hub.add_session(core)
        return HostedReplay(self, session, hub.base_url(session), warnings)

    def settle(self) -> None:
        """Let the server's loop take in what the kernel holds for it (a client's FIN or RST) before a report
        is read: a few turns of the loop, no fixed sleep."""
        if self._runner is not None:
            self._runner.run(_turns)

    def close(self) -> None:
        if self._runner is not None and self._hub is not None:
            self._runner.run(self._hub.aclose)
            self._runner.stop()
        self._runner = self._hub = None


async def _turns() -> None:
    for _ in range(SETTLE_PASSES):  # as ReplayServer.aclose: the passes a hang-up needs to be seen
        await asyncio.sleep(0)
