"""`rec synth`: scenario files (Python and JSON) become cassettes that load and replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from rec.cassette import HttpExchange, WebSocketExchange, load_cassette
from rec.sse import split_events
from rec.synth.events import ev_completed, ev_response_created
from rec.synth.scenario import ACCEPT_DELAY_KEY, Scenario
from replayer.server import ReplayServer

ROOT = Path(__file__).resolve().parents[2]
REC = Path(sys.executable).parent / "rec"


def synth(scenario: Path, output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REC), "synth", str(scenario), "-o", str(output), *extra], capture_output=True,
                          text=True, timeout=30)


def test_the_bundled_example_builds_and_matches_the_committed_cassette(tmp_path: Path) -> None:
    result = synth(ROOT / "cassettes" / "example_scenario.py", tmp_path / "example.mpk")
    assert result.returncode == 0, result.stderr
    built = load_cassette(tmp_path / "example.mpk")
    committed = load_cassette(ROOT / "cassettes" / "example.mpk")
    assert [e.to_record() for e in built.exchanges] == [e.to_record() for e in committed.exchanges]
    kinds = [e.kind for e in built.exchanges]
    assert kinds == ["http", "http", "http", "http", "websocket"]


def test_scenario_round_trips_through_a_cassette_and_replays(tmp_path: Path) -> None:
    scenario = (Scenario("t")
                .sse_turn([ev_response_created("r1"), ev_completed("r1")], delay_ms=5)
                .sse_turn([ev_response_created("r2"), ev_completed("r2")], cut_after=1)
                .models([{"slug": "m"}], etag='"e1"')
                .websocket([(None, [ev_response_created("r3"), ev_completed("r3")])], accept_delay_ms=50))
    scenario.write(tmp_path / "s.mpk")
    first, cut, models, ws = load_cassette(tmp_path / "s.mpk").exchanges
    assert isinstance(first, HttpExchange) and first.response is not None
    assert [at for at, _ in first.response.chunks] == [0.0, 5.0]
    assert isinstance(cut, HttpExchange) and cut.end.error == "cut" and cut.response is not None
    assert len(split_events(cut.response.body)) == 1
    assert isinstance(models, HttpExchange) and models.response is not None
    assert models.response.header("etag") == '"e1"'
    assert isinstance(ws, WebSocketExchange) and ws.extra == {ACCEPT_DELAY_KEY: 50}
    with ReplayServer.from_cassettes([tmp_path / "s.mpk"]) as server:
        client = OpenAI(base_url=server.url, api_key="k", max_retries=0)
        events = [e.type for e in client.responses.create(model="m", input="hi", stream=True)]
    assert events == ["response.created", "response.completed"]


def test_json_scenarios(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "j", "exchanges": [
        {"kind": "sse", "events": [{"type": "response.created", "response": {"id": "r"}},
                                   {"type": "response.completed", "response": {"id": "r"}}]},
        {"kind": "models", "models": [], "etag": '"x"'},
        {"kind": "websocket", "turns": [{"events": [{"type": "response.created", "response": {"id": "w"}},
                                                    {"type": "response.completed", "response": {"id": "w"}}]}]},
    ]}))
    result = synth(scenario, tmp_path / "j.mpk")
    assert result.returncode == 0, result.stderr
    assert len(load_cassette(tmp_path / "j.mpk").exchanges) == 3


DELTA_FIRST = [{"type": "response.created", "response": {"id": "r"}},
               {"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "delta": "x"},
               {"type": "response.completed", "response": {"id": "r"}}]


def test_a_malformed_stream_is_refused_naming_the_exchange_and_the_rule(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"exchanges": [{"kind": "models", "models": []},
                                                  {"kind": "sse", "events": DELTA_FIRST}]}))
    refused = synth(scenario, tmp_path / "bad.mpk")
    assert refused.returncode == 2 and not (tmp_path / "bad.mpk").exists()
    assert refused.stderr.startswith(f"rec: error: {scenario}: exchange #1: SSE answer: item_lifetime: event 1 "
                                     "(response.output_text.delta) for item 'm' comes with no "
                                     "response.output_item.added for it")
    assert "malformed=True" in refused.stderr and refused.stderr.count("\n") == 1


def test_a_deliberate_fault_is_written_marked_so_rec_check_passes_it(tmp_path: Path) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"exchanges": [{"kind": "sse", "events": DELTA_FIRST, "malformed": True},
                                                  {"kind": "websocket", "turns": [{"events": DELTA_FIRST[:2]}],
                                                   "malformed": True}]}))
    assert synth(scenario, tmp_path / "marked.mpk").returncode == 0
    unmarked = tmp_path / "u.py"
    unmarked.write_text("from rec.synth.scenario import Scenario\n"
                        f"SCENARIO = Scenario().sse_turn({DELTA_FIRST!r}).sse_turn({DELTA_FIRST!r})\n")
    flagged = synth(unmarked, tmp_path / "flagged.mpk", "--allow-malformed")
    assert flagged.returncode == 0
    assert flagged.stderr.splitlines()[:2] == [f"rec: warning: exchange #{n} is written malformed on purpose "
                                               "(--allow-malformed)" for n in (0, 1)]
    check = subprocess.run([str(REC), "check", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout.startswith("rec check: 2 cassette(s)"), check.stdout


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.py", None, "no such scenario file"),
    ("scenario.txt", "x", "a scenario is a Python module"),
    ("raises.py", "def scenario():\n    raise RuntimeError('boom')\n", "RuntimeError: boom (at raises.py:2)"),
    ("empty.py", "X = 1\n", "define scenario()"),
    ("wrong.py", "def scenario():\n    return 42\n", "returned int, not a rec.synth.scenario.Scenario"),
    ("bad.json", '{"exchanges": [{"kind": "nope"}]}', "exchanges[0] (nope): unknown kind 'nope'"),
    ("broken.json", "{", "Expecting property name"),
])
def test_bad_scenarios_give_one_line_and_exit_2(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = synth(path, tmp_path / "out.mpk")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.mpk").exists()
