"""`rec diff --format html`: the page data of two API-shaped folders, and the command that writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rec.diff.report import compare_sources
from rec.diff.rules import Rules
from rec.diff.sources import folder_pairs
from rec.normalize import Normalizer
from rec.view.diffs import diff_page_data
from tests.diff.sessions import Session, usage

REC = Path(sys.executable).parent / "rec"
BASE = Session()
# A re-recording where the model calls another tool with other arguments, and the answer turn fails.
RENAMED = BASE.changed(run="b", calls=[("python", {"code": "import os; print(os.listdir())"})])
FAILED = BASE.changed(run="b", answer_status="failed")
LONGER = BASE.changed(run="b", answer="There are two files: a.txt and b.txt.", answer_tokens=usage(output=30))


def folders(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    for name in ("same.mpk", "renamed.mpk", "failed.mpk", "longer.mpk", "gone.mpk"):
        BASE.write(old / name)
    for session, name in [(BASE.changed(run="b"), "same.mpk"), (RENAMED, "renamed.mpk"), (FAILED, "failed.mpk"),
                          (LONGER, "longer.mpk"), (BASE, "added.mpk")]:
        session.write(new / name)
    return old, new


def page_data(tmp_path: Path) -> dict[str, Any]:
    old, new = folders(tmp_path)
    sources = folder_pairs(old, new)
    report = compare_sources(sources, Normalizer(), Rules(), str(old), str(new))
    return diff_page_data(report, sources, "regression").to_json()


def test_pairs_come_regressions_first_with_their_reasons_and_tokens(tmp_path: Path) -> None:
    data = page_data(tmp_path)
    diff = data["diff"]
    assert [(p["path"], p["verdict"]) for p in diff["pairs"]] == [
        ("failed.mpk", "regression"), ("renamed.mpk", "regression"), ("gone.mpk", "only_old"),
        ("added.mpk", "only_new"), ("longer.mpk", "benign"), ("same.mpk", "identical")]
    assert diff["failed"] is True and diff["summary"]["regression"] == 2
    renamed = diff["pairs"][1]
    assert renamed["reasons"][0]["message"] == "exchange #0: tool call 1 renamed shell → python"
    assert "changes" not in renamed  # the page shows conversations, not the unified diff
    longer = diff["pairs"][4]
    assert longer["usage"]["delta"]["total_tokens"] == 22
    assert longer["rows"][1]["usage"]["delta"]["output_tokens"] == 22
    assert diff["usage"]["delta"]["total_tokens"] == 22


def test_each_row_points_at_both_sides_with_the_changed_call_and_status(tmp_path: Path) -> None:
    data = page_data(tmp_path)
    exchanges, pairs = data["exchanges"], {p["path"]: p for p in data["diff"]["pairs"]}
    renamed = pairs["renamed.mpk"]
    first = renamed["rows"][0]
    old, new = exchanges[first["old_x"]], exchanges[first["new_x"]]
    assert data["sources"][old["source"]]["path"].endswith("old/renamed.mpk")
    assert data["sources"][new["source"]]["path"].endswith("new/renamed.mpk")
    assert (old["n"], new["n"]) == (0, 0)
    assert [o["item"]["name"] for o in old["detail"]["turns"][0]["output"] if o["item"]["type"] == "function_call"
            ] == ["shell"]
    # The call is the second output item (after the reasoning), on both sides; the status did not change.
    assert first["highlight"] == {"calls": {"old": [[0, 1]], "new": [[0, 1]]}, "turns": [], "status": False}
    assert first["reasons"] == ["exchange #0: tool call 1 renamed shell → python"]
    failed = pairs["failed.mpk"]["rows"][1]
    assert failed["highlight"]["turns"] == [0] and failed["highlight"]["calls"] == {"old": [], "new": []}
    assert exchanges[failed["new_x"]]["detail"]["turns"][0]["response"]["status"] == "failed"
    same = pairs["same.mpk"]["rows"]
    assert {row["verdict"] for row in same} == {"identical"} and same[0]["highlight"]["calls"]["new"] == []


def test_a_cassette_on_one_side_lists_its_exchanges_alone(tmp_path: Path) -> None:
    data = page_data(tmp_path)
    pairs = {p["path"]: p for p in data["diff"]["pairs"]}
    gone, added = pairs["gone.mpk"], pairs["added.mpk"]
    assert gone["new_source"] is None and added["old_source"] is None
    assert [(r["old"], r["new_x"], r["highlight"]) for r in gone["rows"]] == [(n, None, None) for n in range(4)]
    assert [data["exchanges"][r["new_x"]]["route"] for r in added["rows"]] == [
        "POST /v1/responses", "POST /v1/responses", "GET /v1/models", "WS /v1/responses"]


def rec_diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REC), "diff", *map(str, args)], capture_output=True, text=True, timeout=60)


def embedded(html: str) -> dict[str, Any]:
    start = html.index('<script id="rec-data" type="application/json">') + len(
        '<script id="rec-data" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_the_command_writes_a_page_for_folders_and_for_two_files(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    page = tmp_path / "diff.html"
    result = rec_diff(old, new, "--format", "html", "-o", page, "--fail-on", "regression")
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and result.stderr.startswith(f"rec diff: wrote {page} (")
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "http://" not in html.split("<script")[0]
    assert [p["verdict"] for p in embedded(html)["diff"]["pairs"]][:2] == ["regression", "regression"]
    # Two cassettes, to stdout; exit 0 when no pair reaches --fail-on.
    result = rec_diff(old / "longer.mpk", new / "longer.mpk", "--format", "html", "--fail-on", "regression")
    assert result.returncode == 0, result.stderr
    pair = embedded(result.stdout)["diff"]["pairs"][0]
    assert (pair["path"], pair["verdict"], pair["old"]) == ("longer.mpk", "benign", str(old / "longer.mpk"))


def test_html_is_refused_for_a_replay_report_in_one_line(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("{}")
    result = rec_diff("--report", report, "--format", "html")
    assert result.returncode == 2
    assert result.stderr.startswith("rec: error: --format html is for comparing cassettes") and \
        result.stderr.count("\n") == 1
