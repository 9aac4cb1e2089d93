"""`rec diff`: volatile differences are equal; real ones are reported precisely in every format."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from rec.cassette import (
    FORMAT_VERSION,
    Close,
    End,
    Frame,
    Header,
    HttpExchange,
    Request,
    Response,
    WebSocketExchange,
    write_cassette,
)
from rec.normalize import DEFAULT_NORMALIZER

REC = Path(sys.executable).parent / "rec"


def sse(events: list[dict[str, Any]]) -> list[tuple[float, bytes]]:
    return [(float(i), f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()) for i, e in enumerate(events)]


def conversation(run: str, prompt: str = "list files", tool_output: str = "a.txt", answer: str = "One file.",
                 turns: int = 2, extra_frame: bool = False) -> list[HttpExchange | WebSocketExchange]:
    """A recorded tool-calling conversation; ``run`` changes every volatile id and time, nothing else."""
    call_id = f"call_{run}X9abcdef"
    ids = {"resp1": f"resp_{run}01abcdef", "resp2": f"resp_{run}02abcdef", "msg": f"msg_{uuid.uuid4()}"}
    headers = [("content-type", "application/json"), ("session-id", str(uuid.uuid4())),
               ("x-client-request-id", str(uuid.uuid4())), ("x-codex-turn-metadata", json.dumps({"turn": run}))]
    user = {"type": "message", "id": ids["msg"], "role": "user", "content": [{"type": "input_text", "text": prompt}]}
    call = {"type": "function_call", "call_id": call_id, "name": "exec_command", "arguments": '{"cmd":"ls"}'}
    first = HttpExchange(
        request=Request("POST", "/v1/responses", headers=headers, started_at=float(len(run)),
                        body=json.dumps({"model": "m", "input": [user], "prompt_cache_key": run,
                                         "client_metadata": {"run": run}}).encode()),
        response=Response(200, headers=[("content-type", "text/event-stream"), ("x-request-id", run)], chunks=sse([
            {"type": "response.created", "response": {"id": ids["resp1"], "created_at": len(run)}},
            {"type": "response.output_item.done", "item": call},
            {"type": "response.completed", "response": {"id": ids["resp1"]}}])),
        end=End(at_ms=3.0))
    second = HttpExchange(
        request=Request("POST", "/v1/responses", headers=headers, body=json.dumps({"model": "m", "input": [
            user, call, {"type": "function_call_output", "call_id": call_id, "output": tool_output}]}).encode()),
        response=Response(200, headers=[("content-type", "text/event-stream")], chunks=sse([
            {"type": "response.output_text.delta", "delta": answer},
            {"type": "response.completed", "response": {"id": ids["resp2"]}}])),
        end=End(at_ms=2.0))
    frames = [Frame(0.0, True, True, json.dumps({"type": "response.create", "input": [user]}).encode()),
              Frame(1.0, False, True, json.dumps({"type": "response.completed",
                                                   "response": {"id": ids["resp1"]}}).encode())]
    if extra_frame:
        frames.append(Frame(2.0, False, True, json.dumps({"type": "error", "status": 500}).encode()))
    ws = WebSocketExchange(request=Request("GET", "/v1/responses", headers=[("sec-websocket-key", run)]),
                           response=Response(101), frames=frames, close=Close(1000, by="client", at_ms=3.0))
    return [first, second, ws][: turns] + ([ws] if turns < 3 else [])


def write(path: Path, exchanges: list[Any]) -> Path:
    write_cassette(path, Header(), exchanges)
    return path


def rec_diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REC), "diff", *map(str, args)], capture_output=True, text=True, timeout=30)


def test_two_recordings_differing_only_in_volatile_values_are_equal(tmp_path: Path) -> None:
    a = write(tmp_path / "a.mpk", conversation("one"))
    b = write(tmp_path / "b.mpk", conversation("twotwo"))
    result = rec_diff(a, b)
    assert result.returncode == 0, result.stdout
    assert "equal (3 equal, 0 changed, 0 missing, 0 extra)" in result.stdout


# change -> (the part that differs, how many exchanges change, diff lines expected, stripped)
CASES = {
    # The prompt is in both HTTP turns and the WebSocket's response.create.
    "changed prompt": (dict(prompt="list dirs"), "request", 3, ['-"text": "list files",', '+"text": "list dirs",']),
    "changed tool output": (dict(tool_output="b.txt"), "request", 1, ['-"output": "a.txt",', '+"output": "b.txt",']),
    "changed SSE event": (dict(answer="Two files."), "response", 1, ['-"delta": "One file.",',
                                                                      '+"delta": "Two files.",']),
    "extra WebSocket frame": (dict(extra_frame=True), "response", 1, ['+"type": "error"']),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_each_change_is_reported_precisely(tmp_path: Path, case: str, fmt: str) -> None:
    change, part, changed, lines = CASES[case]
    a = write(tmp_path / "a.mpk", conversation("one"))
    b = write(tmp_path / "b.mpk", conversation("two", **change))
    result = rec_diff(a, b, "--format", fmt)
    assert result.returncode == 1, result.stderr
    if fmt == "json":
        document = json.loads(result.stdout)
        assert document["equal"] is False
        assert document["summary"] == {"equal": 3 - changed, "changed": changed, "missing": 0, "extra": 0}
        assert all(c["parts"] == [part] for c in document["changes"])
        diff_text = "\n".join(c["diff"] for c in document["changes"])
    else:
        if fmt == "text":
            assert f"{changed} changed, 0 missing, 0 extra" in result.stdout
        else:
            assert f"| {3 - changed} | {changed} | 0 | 0 |" in result.stdout and "```diff" in result.stdout
        assert f"{part} changed" in result.stdout
        diff_text = result.stdout
    diff_lines = {line[0] + line[1:].strip() for line in diff_text.splitlines() if line.startswith(("+", "-"))}
    for line in lines:
        assert line in diff_lines, (line, diff_text)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_missing_and_extra_turns_are_detected_not_shifted(tmp_path: Path, fmt: str) -> None:
    full = write(tmp_path / "full.mpk", conversation("one"))
    short = write(tmp_path / "short.mpk", conversation("two", turns=1))
    missing = rec_diff(full, short, "--format", fmt)
    extra = rec_diff(short, full, "--format", fmt)
    assert missing.returncode == extra.returncode == 1
    if fmt == "json":
        assert json.loads(missing.stdout)["summary"] == {"equal": 2, "changed": 0, "missing": 1, "extra": 0}
        assert json.loads(extra.stdout)["summary"] == {"equal": 2, "changed": 0, "missing": 0, "extra": 1}
    else:
        assert "POST /v1/responses (#1 only in" in missing.stdout
        assert "POST /v1/responses (#1 only in B)" in extra.stdout


def test_requests_only_and_responses_only(tmp_path: Path) -> None:
    a = write(tmp_path / "a.mpk", conversation("one"))
    b = write(tmp_path / "b.mpk", conversation("two", answer="Other."))
    assert rec_diff(a, b, "--requests-only").returncode == 0
    assert rec_diff(a, b, "--responses-only").returncode == 1


def test_ignore_paths_from_the_command_line_and_from_pyproject(tmp_path: Path) -> None:
    a = write(tmp_path / "a.mpk", conversation("one"))
    b = write(tmp_path / "b.mpk", conversation("two", tool_output="b.txt"))
    assert rec_diff(a, b, "--requests-only", "--ignore", "input[*].output").returncode == 0
    (tmp_path / "pyproject.toml").write_text('[tool.rec]\nignore = ["input[*].output"]\n')
    in_project = subprocess.run([str(REC), "diff", "a.mpk", "b.mpk", "--requests-only"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=30)
    assert in_project.returncode == 0, in_project.stdout
    (tmp_path / "rec.toml").write_text("ignore = 3\n")
    bad = subprocess.run([str(REC), "diff", "a.mpk", "b.mpk"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "`ignore` must be a list of strings" in bad.stderr


def test_a_mask_with_lookaround_in_the_project_compares_as_it_did_before_re2(tmp_path: Path) -> None:
    write(tmp_path / "a.mpk", conversation("one", tool_output="a.txt"))
    write(tmp_path / "b.mpk", conversation("two", tool_output="b.txt"))
    (tmp_path / "pyproject.toml").write_text('[tool.rec]\nmask = ["[ab](?=\\\\.txt)"]\n')  # a lookahead
    result = subprocess.run([str(REC), "diff", "a.mpk", "b.mpk", "--requests-only"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    # One that backtracks without end is stopped, named, in one line: no traceback, no stall.
    write(tmp_path / "c.mpk", conversation("three", tool_output="a" * 28 + "!"))
    stalled = subprocess.run([str(REC), "diff", "a.mpk", "c.mpk", "--mask", "(a|a)+$(?!x)"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert stalled.returncode == 2 and stalled.stderr.count("\n") == 1, stalled.stderr
    assert "mask '(a|a)+$(?!x)' ran over 1 s" in stalled.stderr


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    good = write(tmp_path / "good.mpk", conversation("one"))
    (tmp_path / "junk.mpk").write_bytes(b"junk")
    newer = tmp_path / "newer.mpk"
    later = FORMAT_VERSION + 1
    newer.write_bytes(zstandard.ZstdCompressor().compress(msgpack.packb({**Header().to_record(), "version": later})))
    for other, message in [(tmp_path / "junk.mpk", "not a cassette"), (newer, f"version {later} is newer"),
                           (tmp_path / "nope.mpk", "no such file")]:
        result = rec_diff(good, other)
        assert result.returncode == 2
        assert message in result.stderr and result.stderr.count("\n") == 1


def test_replay_reports_render_and_set_the_exit_status(tmp_path: Path) -> None:
    clean = {"rec_report": 1, "cassettes": ["a.mpk"], "events": [],
             "summary": {"served": 2, "unmatched": 0, "unused": 0, "violations": 0, "drifted": 0}}
    drift = {**clean, "summary": {**clean["summary"], "drifted": 1}, "events": [
        {"kind": "drift", "route": "POST /v1/responses", "exchange": 0, "message": "request differs",
         "diff": "--- recorded\n+++ received\n-  \"a\"\n+  \"b\"", "recorded": None, "received": None}]}
    (tmp_path / "clean.json").write_text(json.dumps(clean))
    (tmp_path / "drift.json").write_text(json.dumps(drift))
    assert rec_diff("--report", tmp_path / "clean.json").returncode == 0
    for fmt in ("text", "markdown", "json"):
        result = rec_diff("--report", tmp_path / "drift.json", "--format", fmt)
        assert result.returncode == 1
        assert '+  \\"b\\"' in result.stdout if fmt == "json" else '+  "b"' in result.stdout
    (tmp_path / "bad.json").write_text("{}")
    result = rec_diff("--report", tmp_path / "bad.json")
    assert result.returncode == 2 and "not a rec replay report" in result.stderr


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.sampled_from(["id", "call_id", "type", "text", "created_at"]),
                                             children, max_size=3), max_leaves=10)


@settings(deadline=None)  # no time limit per example: a loaded CI machine is not a failure
@given(json_values)
def test_normalizing_is_idempotent(value: Any) -> None:
    once = DEFAULT_NORMALIZER.body(value)
    assert DEFAULT_NORMALIZER.body(once) == once
