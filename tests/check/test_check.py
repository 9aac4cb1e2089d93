"""`rec check`: a corpus of cassettes, each breaking one rule once, gives exactly that one finding; clean ones none."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rec.cassette import Header, write_cassette
from rec.check import CheckOptions, check_paths
from rec.check.age import parse_max_age
from rec.synth import events as ev
from rec.synth.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]


def message_stream(response_id: str, text: str) -> list[dict[str, Any]]:
    """A well-formed streamed message, as the API sends one."""
    item = {"type": "message", "role": "assistant", "id": f"msg_{response_id}", "status": "completed",
            "content": [{"type": "output_text", "text": text}]}
    return [
        {"type": "response.created", "sequence_number": 0, "response": {"id": response_id, "output": []}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {**item, "content": []}},
        {"type": "response.output_text.delta", "sequence_number": 2, "output_index": 0, "item_id": item["id"],
         "content_index": 0, "delta": text},
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": item},
        {"type": "response.completed", "sequence_number": 4, "response": {"id": response_id, "output": [item]}},
    ]


def every_builder_scenario() -> Scenario:
    """Every kind of exchange the synthesizer builds, with the ev_* builders as the harness uses them."""
    return (
        Scenario()
        .sse_turn(message_stream("resp_1", "hello"), request={"model": "m", "input": "hi"})
        .sse_turn([ev.ev_response_created("r2"), ev.ev_function_call("call_1", "shell", "{}"),
                   ev.ev_custom_tool_call("call_2", "patch", "x"), ev.ev_local_shell_call("call_3", "done", ["ls"]),
                   ev.ev_reasoning_item("rs_1", ["thought"], ["raw"]), ev.ev_web_search_call_done("ws_1", "done", "q"),
                   ev.ev_apply_patch_function_call("call_4", "*** Begin Patch"), ev.ev_completed("r2")])
        .sse_turn([ev.ev_response_created("r3"), ev.ev_message_item_added("m3", ""), ev.ev_output_text_delta("hi"),
                   ev.ev_assistant_message("m3", "hi"), ev.ev_completed_with_tokens("r3", 10)])
        .sse_turn([ev.ev_response_created("r4"), ev.ev_assistant_message("m4", "cut")], cut_after=1)
        .json_turn({"error": {"message": "slow down"}}, status=429)
        .compact([{"type": "compaction", "encrypted_content": "x"}])
        .models([{"slug": "gpt-5"}], etag='"v1"')
        .websocket([({"type": "response.create", "model": "m"}, [ev.ev_response_created("w1"), ev.ev_done()]),
                    (None, [ev.ev_response_created("w2"), ev.ev_completed("w2")])])
    )


def test_cassettes_from_every_builder_and_the_bundled_example_are_clean(tmp_path: Path) -> None:
    every_builder_scenario().write(tmp_path / "built.mpk")
    report = check_paths([tmp_path, ROOT / "cassettes"], CheckOptions())
    assert report.findings == [] and set(report.sizes) >= {str(tmp_path / "built.mpk")}


def broken(events: list[dict[str, Any]], fix: Any) -> list[dict[str, Any]]:
    changed = json.loads(json.dumps(events))
    fix(changed)
    return changed


STREAM_BREAKS = {
    "first": (lambda e: e.pop(0), "the first event is 'response.output_item.added'"),
    "no-terminal": (lambda e: e.pop(), "no terminal event"),
    "two-terminals": (lambda e: e.append(dict(e[-1], sequence_number=9)), "2 terminal events"),
    "sequence": (lambda e: e[3].update(sequence_number=1), "sequence_number 1"),
    "delta-first": (lambda e: e.insert(1, e.pop(2)) or [x.pop("sequence_number") for x in e],
                    "comes before its item was added"),
    "wrong-item": (lambda e: e[2].update(item_id="msg_other"), "names item 'msg_other' at output_index 0"),
    "output": (lambda e: e[-1]["response"]["output"][0].update(id="msg_else"), "is not the items done"),
}


@pytest.mark.parametrize("name", sorted(STREAM_BREAKS))
def test_each_stream_rule_broken_once_is_one_finding(tmp_path: Path, name: str) -> None:
    fix, expected = STREAM_BREAKS[name]
    Scenario().sse_turn(broken(message_stream("resp_1", "hello"), fix)).write(tmp_path / f"{name}.mpk")
    findings = check_paths([tmp_path], CheckOptions()).findings
    assert len(findings) == 1 and findings[0].rule == "streams" and expected in findings[0].message, findings
    assert findings[0].exchange == 0 and findings[0].fix


def test_a_websocket_turn_is_checked_like_a_stream(tmp_path: Path) -> None:
    turns = [({"type": "response.create"}, message_stream("w1", "ok")),
             ({"type": "response.create"}, broken(message_stream("w2", "ok"), lambda e: e.pop()))]
    Scenario().websocket(turns).write(tmp_path / "ws.mpk")
    findings = check_paths([tmp_path], CheckOptions()).findings
    assert [f.message for f in findings] == ["WebSocket turn 1: no terminal event (response.completed, .failed or "
                                             ".incomplete) ends the stream"]


SECRET_CASES = {
    "key": (lambda s: s.sse_turn(message_stream("r", "your key is sk-proj-abcdefghijklmnop0123456789")),
            "holds an OpenAI-style key"),
    "jwt": (lambda s: s.websocket([({"type": "response.create", "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3"
                                                                         "ODkwIn0.dozjgNryP4J3jVmNHl0w5N"},
                                     message_stream("w", "ok"))]), "holds a JWT"),
    "header": (lambda s: s.sse_turn(message_stream("r", "ok"), headers=[("set-cookie", "session=abc123")]),
               "'set-cookie' holds an unredacted value"),
}


@pytest.mark.parametrize("name", sorted(SECRET_CASES))
def test_each_secret_placement_is_one_finding(tmp_path: Path, name: str) -> None:
    build, expected = SECRET_CASES[name]
    scenario = Scenario()
    build(scenario)
    scenario.write(tmp_path / f"{name}.mpk")
    findings = check_paths([tmp_path], CheckOptions()).findings
    assert len(findings) == 1 and findings[0].rule == "secrets" and expected in findings[0].message, findings


def test_a_project_redact_rule_is_checked_too(tmp_path: Path) -> None:
    Scenario().sse_turn(message_stream("r", "internal id ACME-1234")).write(tmp_path / "acme.mpk")
    assert check_paths([tmp_path], CheckOptions()).findings == []
    result = run_rec("check", tmp_path, "--redact", "regex:ACME-[0-9]+")
    assert result.returncode == 1 and "a match of a --redact rule (ACME-1234" in result.stdout


def test_a_stale_cassette_fails_warns_or_is_marked_for_recording(tmp_path: Path) -> None:
    old = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC).isoformat()
    exchanges = Scenario().sse_turn(message_stream("r", "x")).exchanges
    write_cassette(tmp_path / "old.mpk", Header(created_at=old), exchanges)
    for on_expiry, fails in (("fail", True), ("warn", False), ("rerecord", False)):
        report = check_paths([tmp_path], CheckOptions(max_age=parse_max_age("90d"), on_expiry=on_expiry))
        assert [(f.rule, f.fails) for f in report.findings] == [("stale", fails)]
        assert report.failed == fails


def test_an_outsized_exchange_is_one_finding(tmp_path: Path) -> None:
    scenario = Scenario()
    for n in range(4):
        scenario.sse_turn(message_stream(f"r{n}", "small"))
    scenario.json_turn({"blob": os.urandom(300_000).hex()})  # incompressible: it stays big on disk
    scenario.write(tmp_path / "big.mpk")
    findings = check_paths([tmp_path], CheckOptions()).findings
    assert [(f.rule, f.exchange) for f in findings] == [("size", 4)]


def run_rec(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rec", *map(str, args)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_the_command_exits_0_clean_1_findings_2_errors_in_each_format(tmp_path: Path) -> None:
    every_builder_scenario().write(tmp_path / "clean.mpk")
    assert run_rec("check", tmp_path).returncode == 0
    Scenario().sse_turn(broken(message_stream("r", "x"), lambda e: e.pop())).write(tmp_path / "bad.mpk")
    text = run_rec("check", tmp_path)
    assert text.returncode == 1 and "bad.mpk #0: streams: SSE answer: no terminal event" in text.stdout
    as_json = json.loads(run_rec("check", tmp_path, "--format", "json").stdout)
    assert as_json["clean"] is False and [f["rule"] for f in as_json["findings"]] == ["streams"]
    assert "| `" in run_rec("check", tmp_path, "--format", "markdown").stdout
    for args in (["check", tmp_path / "nowhere"], ["check", ROOT / "README.md"], ["check", tmp_path, "--max-age", "x"]):
        result = run_rec(*args)
        assert result.returncode == 2 and result.stderr.startswith("rec: error: ") and "Traceback" not in result.stderr
