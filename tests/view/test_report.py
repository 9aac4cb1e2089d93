"""A replay report laid over the page: marks per exchange, drift side by side, requests that matched nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai import OpenAI

from rec.synth.events import user_message_item
from rec.view.build import ViewError, build, load_report
from rec.view.sides import side_by_side
from replayer.match_modes import MatchMode
from replayer.server import ReplayServer


def test_each_exchange_is_marked_from_a_real_replay(codex_cassette: Path, replay_report: Path) -> None:
    data, warnings = build([codex_cassette], replay_report)
    assert warnings == []
    assert [view["marks"] for view in data.exchanges] == [["served", "drifted"], ["unused"], ["unused"],
                                                          ["unused"], ["unused"]]
    drift = data.exchanges[0]["notes"][0]
    assert drift["kind"] == "drift" and "input[0].content[0].text" in drift["message"]
    changed = [row for row in drift["sides"]["rows"] if isinstance(row, list) and row[4] != "equal"]
    assert [(row[1].strip(), row[3].strip()) for row in changed] == [
        ('"text": "Add a greeting to hello.py",', '"text": "Add a friendly greeting to hello.py",')]
    assert data.report is not None and data.report["clean"] is False
    assert data.report["summary"]["violations"] == 1
    (outside,) = data.report["outside"]
    assert outside["kind"] == "violation" and "call_nowhere" in outside["message"]
    assert outside["received"]["input"][0]["call_id"] == "call_nowhere"


def test_without_cassettes_the_reports_own_are_read(replay_report: Path) -> None:
    data, _ = build([], replay_report)
    assert len(data.exchanges) == 5


def test_a_report_of_other_cassettes_is_a_warning(tmp_path: Path, replay_report: Path) -> None:
    from tests.view import cassettes

    small = cassettes.write(cassettes.cut_stream(), tmp_path, "cut")
    _, warnings = build([small], replay_report)
    assert warnings == [f"{replay_report}: the report names exchange #{n}, which these cassettes do not hold; are "
                        "they the ones it replayed?" for n in (1, 2, 3, 4)]


def test_a_websocket_served_in_part_is_served(tmp_path: Path) -> None:
    from tests.view import cassettes

    ws = cassettes.write(cassettes.websocket_two_turns(), tmp_path, "ws")
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"rec_report": 1, "cassettes": [str(ws)], "summary": {"unused": 1}, "events": [
        {"kind": "unused", "route": "GET /v1/responses", "exchange": 0,
         "message": "turn 1 of WebSocket exchange #0 (ws.mpk) was never requested"}]}))
    data, _ = build([ws], report)
    assert data.exchanges[0]["marks"] == ["served", "unused"]


def test_every_exchange_never_requested_is_marked_past_the_events_a_report_keeps(tmp_path: Path) -> None:
    """A report keeps the first 100 events of a kind whole and counts the rest; its list of unused exchanges is
    whole, so the page marks each of the 130 a replay that asked two of 132 left."""
    from tests.view import cassettes

    many = cassettes.write(cassettes.many_exchanges(132), tmp_path, "many")
    with ReplayServer.from_cassettes([many], match=MatchMode.body) as server:
        client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        for n in (0, 131):
            asked = [user_message_item(f"question number {n}")]
            with client.responses.create(model="gpt-5", stream=True, input=asked) as stream:
                assert [event.type for event in stream][-1] == "response.completed"
    report = tmp_path / "report.json"
    server.finish().write(report)
    document = json.loads(report.read_text())
    assert document["omitted"] == {"unused": 30} and document["unused_exchanges"] == [[1, 130]]
    data, _ = build([many], report)
    marks = [view["marks"] for view in data.exchanges]
    assert marks[0] == marks[131] == ["served"]
    assert marks[1:131] == [["unused"]] * 130


@pytest.mark.parametrize(("content", "error"), [
    (None, "no such report file"),
    ("{", "not a JSON report"),
    ('{"rec_report": 9, "events": [], "summary": {}}', "report version 9 is not one this rec reads"),
    ('{"events": []}', "not a rec replay report"),
])
def test_a_bad_report_file_says_what_is_wrong(tmp_path: Path, content: str | None, error: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ViewError, match=error):
        load_report(path)


def test_side_by_side_pairs_changes_and_folds_long_equal_runs() -> None:
    before = {f"k{n:02}": n for n in range(30)}
    after = {**before, "k20": "twenty", "k29": 29.5}
    del after["k12"]
    rows = side_by_side(before, after, "recorded", "received")["rows"]
    assert [row if isinstance(row, dict) else row[4] for row in rows] == [
        {"fold": 10}, "equal", "equal", "equal",  # "{" and k00..k11, then three lines of context
        "delete", *["equal"] * 7,  # k12 gone; the seven lines to the next change are all shown
        "replace", "equal", "equal", "equal", {"fold": 2}, "equal", "equal", "equal",
        "replace", "equal"]
    changed = [row for row in rows if isinstance(row, list) and row[4] != "equal"]
    assert changed == [[14, '  "k12": 12,', None, None, "delete"],
                       [22, '  "k20": 20,', 21, '  "k20": "twenty",', "replace"],
                       [31, '  "k29": 29', 30, '  "k29": 29.5', "replace"]]
