"""What fails a replay run, and how an event reads: one policy for the CLI, pytest and the mount API.

Every consumer of a replay's events (the ``rec replay`` exit status, ``rec diff --report``,
the pytest plugin, ``MockServer.verify()``) picks a ``Policy`` here instead of listing event
kinds of its own, so "what is a problem" has one answer per use, written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Kinds that always fail: the client sent something wrong, or got no recorded answer.
ALWAYS_FAILING = frozenset({"violation", "bad_request", "unmatched"})


@dataclass(frozen=True)
class Policy:
    """Which kinds of report event fail a run, beyond those that always do."""

    unused: bool = False  # a recorded exchange (or WebSocket turn) nobody asked for
    unconsumed: bool = False  # a served stream the client did not read to the end
    drift: bool = False  # a request that matched but differs from the recorded one

    def failing_kinds(self) -> frozenset[str]:
        optional = {"unused": self.unused, "unconsumed": self.unconsumed, "drift": self.drift}
        return ALWAYS_FAILING | {kind for kind, fails in optional.items() if fails}

    def failures(self, events: Iterable[Any]) -> list[Any]:
        """The events (``ReportEvent`` or their JSON dicts) that fail a run under this policy."""
        failing = self.failing_kinds()
        return [event for event in events if _field(event, "kind") in failing]


# `rec replay`'s exit status: the client was refused something (docs/replaying.md).
REPLAY_EXIT = Policy()
# `rec diff --report`, a CI gate over a saved report: anything a person should look at.
REPORT_GATE = Policy(unconsumed=True, drift=True)
# A test that replays: every recorded exchange used, every stream read, no drift.
PYTEST = Policy(unused=True, unconsumed=True, drift=True)
# The mount API's verify(): mounts may be left unused; expected counts are checked separately.
MOUNTS = Policy()


def event_line(event: Any) -> str:
    """``KIND: ROUTE exchange #N: MESSAGE``, the one way an event is written for people."""
    exchange = _field(event, "exchange")
    where = f" exchange #{exchange}" if exchange is not None else ""
    return f"{_field(event, 'kind')}: {_field(event, 'route')}{where}: {_field(event, 'message')}"


def kind_of(event: Any) -> str:
    """The kind of a ``ReportEvent`` or of its JSON dict."""
    return str(_field(event, "kind"))


def _field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, dict) else getattr(event, name)
