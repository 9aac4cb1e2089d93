"""A `rec replay --report` on the page: each exchange marked served, unused, drifted, ... with its events.

The report numbers exchanges across the cassettes it served, in order, as the page does.
An event that names no exchange (a request that matched nothing, broke an invariant, or
was refused) goes to the report's overview with what the client sent.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from rec.view.model import PageData
from rec.view.sides import side_by_side
from rec.view.stream import clip
from replayer.report import ReportEvent, report_has_problems
from replayer.report import never_requested as never_requested_event

# The mark an event puts on its exchange (the list's badges, and words the filter matches).
MARKS = {"drift": "drifted", "unused": "unused", "violation": "violating", "bad_request": "violating",
         "unmatched": "unmatched", "fault": "fault", "unconsumed": "unconsumed", "fallback": "fallback"}


def attach_report(data: PageData, report: dict[str, Any], name: str) -> list[str]:
    """Mark the page's exchanges from a checked report document; returns warnings (numbers the page lacks)."""
    by_number = {view["n"]: view for view in data.exchanges if view["n"] is not None}
    outside, missing = [], set()
    unused = never_requested(report, by_number)
    for event in report["events"]:
        number = event.get("exchange")
        view = by_number.get(number) if isinstance(number, int) else None
        if view is None:
            if isinstance(number, int):
                missing.add(number)
            outside.append(clip({key: event.get(key) for key in ("kind", "route", "message", "received")}))
            continue
        note: dict[str, Any] = {"kind": event["kind"], "message": event.get("message", "")}
        if event["kind"] == "drift" and event.get("recorded") is not None:
            note["sides"] = side_by_side(event["recorded"], event.get("received"), "recorded", "received")
        view.setdefault("notes", []).append(clip(note))
        mark = MARKS.get(event["kind"], event["kind"])
        if mark not in view["marks"]:
            view["marks"].append(mark)
    for number, view in by_number.items():
        if number not in unused:
            view["marks"].insert(0, "served")
        elif "unused" not in view["marks"]:  # its event was past the report's limit: counted, not kept
            view["marks"].append("unused")
    data.report = {"path": name, "cassettes": report.get("cassettes", []), "summary": report["summary"],
                   "clean": not report_has_problems(report), "omitted": report.get("omitted"), "outside": outside,
                   "unused_listed": isinstance(report.get("unused_exchanges"), list)}
    return [f"{name}: the report names exchange #{n}, which these cassettes do not hold; are they the ones "
            "it replayed?" for n in sorted(missing)]


def never_requested(report: dict[str, Any], numbers: Iterable[int]) -> set[int]:
    """Which of these exchanges the report says were never requested: all of them (``unused_exchanges``, runs of
    numbers), or in a report written without that list, those whose `unused` event it kept (a WebSocket served in
    part has one per turn left over: that connection was served)."""
    listed = report.get("unused_exchanges")
    if isinstance(listed, list):
        runs = sorted(run for run in listed if isinstance(run, list) and len(run) == 2
                      and all(type(end) is int for end in run))
        firsts = [first for first, _ in runs]
        found = set()
        for number in numbers:
            at = bisect.bisect_right(firsts, number) - 1
            if at >= 0 and number <= runs[at][1]:
                found.add(number)
        return found
    return {event["exchange"] for event in report["events"]
            if isinstance(event, dict) and event.get("kind") == "unused" and isinstance(event.get("exchange"), int)
            and never_requested_event(ReportEvent("unused", "", event["exchange"], str(event.get("message", ""))))
            is not None}
