"""`rec diff --format html`: a regression report on the page, and each aligned exchange's two sides.

The page lists the pairs of cassettes, regressions first, each with its verdict, one-line
reasons and token figures as `rec diff --format json` gives them. Both cassettes of every
pair are on the page as exchanges (the same views `rec view` shows), so a row of a pair
opens the OLD and NEW conversations side by side; the tool calls that changed and the
statuses that differ are named here, for the page to highlight.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rec.cassette import Cassette, load_cassette
from rec.diff.render import ORDER, pair_json, usage_json
from rec.diff.report import FailOn, Report, fails
from rec.diff.sources import Source
from rec.view.model import PageData, exchange_view, source_view


def diff_page_data(report: Report, sources: Sequence[Source], fail_on: FailOn) -> PageData:
    """The page of a report whose pairs were compared from ``sources`` (in the same order); the cassettes are
    read again from the sources' files, which must still exist."""
    data = PageData(title=f"{report.old_name} vs {report.new_name}")
    pairs = []
    for source, pair in zip(sources, report.pairs, strict=True):
        entry = pair_json(pair, fail_on)
        del entry["changes"]  # the page shows the two conversations, not a unified diff of the views
        offsets = {side: _add(data, path) for side, path in (("old", source.old), ("new", source.new))}
        entry["old_source"] = None if offsets["old"] is None else offsets["old"][0]
        entry["new_source"] = None if offsets["new"] is None else offsets["new"][0]
        entry["rows"] = _rows(data, entry, offsets["old"], offsets["new"])
        pairs.append(entry)
    pairs.sort(key=lambda p: (ORDER.index(p["verdict"]), p["path"]))
    old, new = report.figures()
    data.diff = {"old": report.old_name, "new": report.new_name, "fail_on": fail_on,
                 "failed": fails(report.pairs, fail_on), "summary": report.summary(), "usage": usage_json(old, new),
                 "pairs": pairs}
    return data


def _add(data: PageData, path: Path | None) -> tuple[int, int] | None:
    """Put a cassette's exchanges on the page: (its source number, the position of its first exchange)."""
    if path is None:
        return None
    cassette: Cassette = load_cassette(path)
    data.sources.append(source_view(cassette))
    source, first = len(data.sources) - 1, len(data.exchanges)
    data.exchanges += [exchange_view(n, source, exchange) for n, exchange in enumerate(cassette.exchanges)]
    return source, first


def _rows(data: PageData, pair: dict[str, Any], old: tuple[int, int] | None,
          new: tuple[int, int] | None) -> list[dict[str, Any]]:
    """Each aligned exchange: where its sides are on the page, its reasons, and what to highlight."""
    aligned = pair["exchanges"]
    if not aligned:  # a cassette on one side only: each of its exchanges alone
        side, offset = ("old", old) if old is not None else ("new", new)
        count = sum(1 for e in data.exchanges if offset is not None and e["source"] == offset[0])
        aligned = [{"old": n if side == "old" else None, "new": n if side == "new" else None,
                    "route": None, "verdict": pair["verdict"], "usage": usage_json(None, None)} for n in range(count)]
    rows = []
    for row in aligned:
        old_x = None if row["old"] is None or old is None else old[1] + row["old"]
        new_x = None if row["new"] is None or new is None else new[1] + row["new"]
        # A row always has a side, so a reason about no exchange (the token budget) stays the pair's own.
        reasons = [r for r in pair["reasons"] if (r["exchange"], r["new_exchange"]) == (row["old"], row["new"])]
        left = data.exchanges[old_x] if old_x is not None else None
        right = data.exchanges[new_x] if new_x is not None else None
        rows.append({**row, "route": row["route"] or (left or right or {}).get("route"), "old_x": old_x,
                     "new_x": new_x, "reasons": [r["message"] for r in reasons],
                     "highlight": highlight(left, right) if left and right else None})
    return rows


# --- what changed between two sides, for the page to highlight ----------------------------


def _calls(view: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    """(turn, output item, name, arguments) of each tool call an exchange's answers made, in order."""
    found = []
    for t, turn in enumerate(view["detail"].get("turns") or []):
        for k, out in enumerate(turn["output"]):
            item = out["item"]
            kind = str(item.get("type", ""))
            if kind.endswith("_call") and kind != "web_search_call":
                name = str(item.get("name") or kind)
                found.append((t, k, name, _arguments(item.get("arguments", item.get("input", item.get("action"))))))
    return found


def _arguments(value: Any) -> str:
    """Arguments compared as JSON when they parse (spacing and key order do not count), else as written."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return json.dumps(parsed, sort_keys=True)


def _statuses(view: dict[str, Any]) -> list[Any]:
    return [turn["response"].get("status") or ("ended" if turn["ended"] else "no end")
            for turn in view["detail"].get("turns") or []]


def highlight(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The tool calls that changed (renamed, other arguments, added or removed) on each side, as [turn, item],
    the turns whose final status differs, and whether the exchange's status or problem differs."""
    a, b = _calls(old), _calls(new)
    changed: dict[str, list[list[int]]] = {"old": [], "new": []}
    blocks = difflib.SequenceMatcher(a=[c[2] for c in a], b=[c[2] for c in b], autojunk=False)
    for op, i1, i2, j1, j2 in blocks.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                if a[i][3] != b[j][3]:
                    changed["old"].append([a[i][0], a[i][1]])
                    changed["new"].append([b[j][0], b[j][1]])
            continue
        changed["old"] += [[a[i][0], a[i][1]] for i in range(i1, i2)]
        changed["new"] += [[b[j][0], b[j][1]] for j in range(j1, j2)]
    old_statuses, new_statuses = _statuses(old), _statuses(new)
    turns = [t for t in range(max(len(old_statuses), len(new_statuses)))
             if old_statuses[t:t + 1] != new_statuses[t:t + 1]]
    return {"calls": changed, "turns": turns,
            "status": (old["status"], old.get("problem")) != (new["status"], new.get("problem"))}


def pair_sources(old: Path, new: Path) -> list[Source]:
    """The one source of `rec diff A B` (two cassettes), named as its report names it."""
    return [Source(new.name, old, new, str(old), str(new))]

