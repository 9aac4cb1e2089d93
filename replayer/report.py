"""What a replay saw: counters, one event per noteworthy request, and the `--report` JSON.

The JSON schema (``rec_report`` 1) is read back by ``rec diff --report`` and ``rec view --report``:
``{"rec_report": 1, "cassettes": [...], "summary": {served, unmatched, unused, unconsumed,
violations, drifted}, "events": [{kind, route, exchange, message, diff, recorded, received}]}``,
with ``omitted`` (per kind, the events counted but not kept) and ``unused_exchanges`` (every
exchange never requested, kept or not, as ``[first, last]`` runs of numbers) when there are any.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from replayer.outcome import REPLAY_EXIT, REPORT_GATE, Policy, event_line

EventKind = Literal["drift", "violation", "unmatched", "unused", "unconsumed", "bad_request", "fault", "fallback"]
REPORT_VERSION = 1


@dataclass
class ReportEvent:
    kind: EventKind
    route: str
    exchange: int | None
    message: str
    diff: str = ""
    recorded: Any = None
    received: Any = None


def unified_json_diff(recorded: Any, received: Any) -> str:
    """A unified diff of two JSON values rendered with indent 2 and sorted keys; "" when equal."""
    before = json.dumps(recorded, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(received, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(before, after, "recorded", "received", lineterm=""))


# Events kept whole per kind; past that, a long run under load only counts them, so memory stays flat.
EVENTS_KEPT_PER_KIND = 100


def never_requested(event: ReportEvent) -> int | None:
    """The exchange an `unused` event says was never requested; None for any other event, and for a turn a served
    WebSocket left (replayer/matching.py's words: "turn N of WebSocket exchange ...")."""
    if event.kind != "unused" or event.message.startswith("turn "):
        return None
    return event.exchange


def _add_to_runs(runs: list[list[int]], number: int) -> None:
    """Add a number to ``[first, last]`` runs: unused exchanges come in order, so a run grows at its end."""
    if runs and runs[-1][0] <= number <= runs[-1][1]:
        return
    if runs and number == runs[-1][1] + 1:
        runs[-1][1] = number
    else:
        runs.append([number, number])


def _merged(runs: list[list[int]]) -> list[list[int]]:
    """The runs sorted and joined where they touch (numbers that came out of order)."""
    merged: list[list[int]] = []
    for first, last in sorted(runs):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


@dataclass
class Report:
    """Counters and events of one replay; ``emit`` gets each event's log line as it happens.

    The first ``EVENTS_KEPT_PER_KIND`` events of each kind are kept with their details;
    later ones are counted (``omitted``) and still emitted as log lines. Every exchange never
    requested is listed (``unused_exchanges``, a few numbers however many there are), so a page
    marks each one, not only those whose event was kept.
    """

    cassettes: list[str] = field(default_factory=list)
    served: int = 0
    unmatched: int = 0
    violations: int = 0
    drifted: int = 0
    unconsumed: int = 0
    events: list[ReportEvent] = field(default_factory=list)
    emit: Callable[[str], None] | None = None
    finished: bool = False  # the unused exchanges have been added (at the end of the run)
    omitted: dict[str, int] = field(default_factory=dict)
    # Per route, the one event that stands for every request that arrived out of recorded order, and how many.
    reordered: dict[str, tuple[ReportEvent, int]] = field(default_factory=dict)
    _never_requested: list[list[int]] = field(default_factory=list)  # [first, last] runs of exchange numbers
    _kept: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: ReportEvent, emit: bool = True) -> None:
        """Keep (or count) an event; ``emit`` its log line unless it is one of many said at once (unused ones)."""
        with self._lock:
            kept = self._kept.get(event.kind, 0)
            if kept < EVENTS_KEPT_PER_KIND:
                self.events.append(event)
                self._kept[event.kind] = kept + 1
            else:
                self.omitted[event.kind] = self.omitted.get(event.kind, 0) + 1
            if (number := never_requested(event)) is not None:
                _add_to_runs(self._never_requested, number)
            if event.kind in ("violation", "bad_request"):
                self.violations += 1
            elif event.kind == "unmatched":
                self.unmatched += 1
            elif event.kind == "drift":
                self.drifted += 1
            elif event.kind == "unconsumed":
                self.unconsumed += 1
        if emit and self.emit is not None:
            self.emit(event_line(event))

    def add_reordered(self, route: str, exchange: int | None, other: str, recorded: Any, received: Any) -> None:
        """A drift that is only an order (the request is another recorded exchange's): said once per route, with the
        fix, and counted; 20 concurrent clients are one event, not 20."""
        with self._lock:
            first, count = self.reordered.get(route, (None, 0))
            count += 1
            message = (f"{count} request(s) on {route} arrived in another order than recorded, so each got another "
                       f"request's answer (the first was the request of exchange {other}); their bodies tell them "
                       "apart: replay with --match body (in pytest, @pytest.mark.rec(match=\"body\"))")
            if first is not None:
                first.message = message
                self.reordered[route] = (first, count)
                self.drifted += 1
                return
            event = ReportEvent("drift", route, exchange, message, unified_json_diff(recorded, received), recorded,
                                received)
            self.reordered[route] = (event, count)
        self.add(event)

    def unused_events(self) -> list[ReportEvent]:
        return [event for event in self.events if event.kind == "unused"]

    def summary(self) -> dict[str, int]:
        return {
            "served": self.served,
            "unmatched": self.unmatched,
            "unused": self._kept.get("unused", 0) + self.omitted.get("unused", 0),
            "unconsumed": self.unconsumed,
            "violations": self.violations,
            "drifted": self.drifted,
        }

    def summary_line(self) -> str:
        return ", ".join(f"{key} {value}" for key, value in self.summary().items())

    @property
    def ok(self) -> bool:
        """True when nothing fails the run under ``rec replay``'s exit policy."""
        return not REPLAY_EXIT.failures(self.events)

    def to_json(self, unused: Iterable[ReportEvent] = ()) -> dict[str, Any]:
        """The ``--report`` JSON; with ``unused``, as it would be once those were added (kept and counted as
        ``add`` would), without adding them: the report of a run still going."""
        with self._lock:
            events = [asdict(event) for event in self.events]
            summary, omitted = self.summary(), dict(self.omitted)
            room = EVENTS_KEPT_PER_KIND - self._kept.get("unused", 0)
            runs = [list(run) for run in self._never_requested]
        for event in unused:
            summary["unused"] += 1
            if room > 0:
                events.append(asdict(event))
                room -= 1
            else:
                omitted["unused"] = omitted.get("unused", 0) + 1
            if (number := never_requested(event)) is not None:
                _add_to_runs(runs, number)
        document: dict[str, Any] = {
            "rec_report": REPORT_VERSION,
            "cassettes": list(self.cassettes),
            "summary": summary,
            "events": events,
        }
        if omitted:
            document["omitted"] = omitted  # events counted in the summary but not kept
        if runs:
            document["unused_exchanges"] = _merged(runs)
        return document

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report JSON atomically: a fresh temporary file beside it, then a rename.

        The rename replaces whatever is at ``path`` (a planted symlink included) without
        writing through it.
        """
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


# --- reading a report back (rec diff --report) ---------------------------------------

class ReportError(ValueError):
    """A file that is not a rec replay report."""


def check_report(document: Any, name: str) -> dict[str, Any]:
    if not isinstance(document, dict) or "rec_report" not in document:
        raise ReportError(f"{name}: not a rec replay report (no rec_report key)")
    if document["rec_report"] != 1:
        raise ReportError(f"{name}: report version {document['rec_report']} is not one this rec reads (1)")
    if not isinstance(document.get("events"), list) or not isinstance(document.get("summary"), dict):
        raise ReportError(f"{name}: a rec report needs `summary` and `events`")
    return document


def report_has_problems(report: dict[str, Any]) -> bool:
    return bool(REPORT_GATE.failures(report["events"]))


def render_report(report: dict[str, Any], fmt: str, name: str) -> str:
    summary = ", ".join(f"{k} {v}" for k, v in report["summary"].items())
    problems = Policy(unused=True, unconsumed=True, drift=True).failures(report["events"])
    if fmt == "json":
        return json.dumps({"clean": not report_has_problems(report), **report}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        icon = "✅" if not report_has_problems(report) else "❌"
        lines = [f"### {icon} rec replay report `{name}`", "", summary]
        for event in problems:
            where = f" exchange #{event['exchange']}" if event.get("exchange") is not None else ""
            lines += ["", f"**{event['kind']}** `{event['route']}`{where}: {event['message']}"]
            if event.get("diff"):
                lines += ["", "```diff", event["diff"], "```"]
        return "\n".join(lines) + "\n"
    lines = [f"rec diff --report {name}: {summary}"]
    for event in problems:
        lines.append(f"\n{event_line(event)}")
        if event.get("diff"):
            lines.append(event["diff"])
    return "\n".join(lines) + "\n"
