"""The Codex CLI through `rec record`: a tool-calling turn over HTTP and over the WebSocket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rec.cassette import HttpExchange, WebSocketExchange, load_cassette
from rec.sse import split_events
from tests.recorder.support import start_recorder
from tests.support.codex import codex_available, run_codex
from tests.support.upstream import ECHO_CALL_ID, running_upstream

pytestmark = [
    pytest.mark.slow,
    pytest.mark.codex,
    pytest.mark.skipif(not codex_available(), reason="the Codex CLI is not installed (make install)"),
]


def test_codex_over_http_tool_call_is_recorded(tmp_path: Path) -> None:
    with running_upstream() as upstream:
        recorder = start_recorder(upstream.url, tmp_path / "codex.mpk")
        run = run_codex(tmp_path / "home", recorder.url, "run echo hi", cwd=tmp_path)
        rc, _, err = recorder.stop()
    assert run.rc == 0, run.stderr[-2000:]
    assert "The command printed" in run.stdout
    assert rc == 0, err
    turns = [e for e in load_cassette(tmp_path / "codex.mpk").exchanges
             if isinstance(e, HttpExchange) and e.request.path.endswith("/responses")]
    assert len(turns) >= 2
    first_events = [json.loads(e.data)["type"] for e in split_events(turns[0].response.body) if e.data]
    assert "response.completed" in first_events
    followup = json.loads(turns[-1].request.content)
    outputs = [i for i in followup["input"] if i.get("type") == "function_call_output"]
    assert outputs and outputs[0]["call_id"] == ECHO_CALL_ID
    assert "hi" in json.dumps(outputs[0]["output"])
    # The provider key Codex sent never reached the disk.
    assert b"sk-rec-test" not in (tmp_path / "codex.mpk").read_bytes()
    assert turns[0].request.header("authorization") == "[REDACTED]"


def test_codex_over_websocket_tool_call_is_recorded(tmp_path: Path) -> None:
    with running_upstream() as upstream:
        recorder = start_recorder(upstream.url, tmp_path / "codex-ws.mpk")
        run = run_codex(tmp_path / "home", recorder.url, "run echo hi", supports_websockets=True, cwd=tmp_path)
        _rc, _, err = recorder.stop()
    assert run.rc == 0, run.stderr[-2000:]
    assert "The command printed" in run.stdout
    sockets = [e for e in load_cassette(tmp_path / "codex-ws.mpk").exchanges if isinstance(e, WebSocketExchange)]
    assert sockets, err
    ws = sockets[0]
    assert (ws.request.header("openai-beta") or "").startswith("responses_websockets")
    creates = [json.loads(f.payload) for f in ws.frames if f.from_client]
    assert [c["type"] for c in creates].count("response.create") >= 2
    last = creates[-1]
    assert last.get("previous_response_id")
    assert [i["type"] for i in last["input"]] == ["function_call_output"]
    assert any("permessage-deflate" in e for e in ws.extensions)
