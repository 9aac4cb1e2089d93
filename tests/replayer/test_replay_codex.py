"""The Codex CLI against the replayer, over HTTP and over the WebSocket: a tool-calling turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replayer.server import ReplayServer
from tests.replayer.builders import (
    request_body,
    response_obj,
    sse_exchange,
    text_events,
    tool_call_events,
    write,
    ws_exchange,
)
from tests.support.codex import codex_available, run_codex

pytestmark = [
    pytest.mark.slow,
    pytest.mark.codex,
    pytest.mark.skipif(not codex_available(), reason="the Codex CLI is not installed (make install)"),
]
TOOL_CALL = tool_call_events("resp_1", "call_1", "exec_command", json.dumps({"cmd": "echo rec-tool-ran"}))
ANSWER = text_events("resp_2", "All done.")


def test_codex_over_http_runs_the_recorded_tool_call(tmp_path: Path) -> None:
    cassette = write(tmp_path / "codex-http.mpk", [sse_exchange(request_body([]), TOOL_CALL),
                                                   sse_exchange(request_body([]), ANSWER)])
    with ReplayServer.from_cassettes([cassette]) as server:
        run = run_codex(tmp_path / "home", server.url, "run the echo", cwd=tmp_path)
    assert run.rc == 0, run.stderr[-2000:]
    assert "All done." in run.stdout
    first, second = server.log.requests()
    # Over HTTP Codex resends the whole history: the call and its output are in the second request.
    assert second.has_function_call("call_1")
    assert "rec-tool-ran" in (second.function_call_output_text("call_1") or "")
    assert not first.inputs_of_type("function_call_output")
    assert server.report.violations == 0 and server.report.unmatched == 0 and server.report.unconsumed == 0


def codex_websocket_cassette(path: Path) -> Path:
    """Codex's WebSocket session: a prewarm, the turn that asks for the tool, the answer after it."""
    prewarm = [{"type": "response.created", "response": response_obj("resp_0", status="in_progress")},
               {"type": "response.completed", "response": response_obj("resp_0")}]
    create = {"type": "response.create", "input": []}
    return write(path, [ws_exchange([(create, prewarm), (create, TOOL_CALL), (create, ANSWER)])])


def test_codex_over_websocket_chains_previous_response_id(tmp_path: Path) -> None:
    cassette = codex_websocket_cassette(tmp_path / "codex-ws.mpk")
    with ReplayServer.from_cassettes([cassette]) as server:
        run = run_codex(tmp_path / "home", server.url, "run the echo", supports_websockets=True, cwd=tmp_path)
    assert run.rc == 0, run.stderr[-2000:]
    assert "All done." in run.stdout
    assert server.log.single_handshake().header("openai-beta") is not None
    *_, last = server.log.single_connection()
    body = last.body_json()
    # Codex sends only the tool output and chains to the response that asked for it; the invariants pass
    # because the call is found in that chained response's served output.
    assert body["previous_response_id"] == "resp_1"
    assert [item["type"] for item in body["input"]] == ["function_call_output"]
    assert "rec-tool-ran" in body["input"][0]["output"]
    assert server.report.violations == 0 and server.report.unmatched == 0 and server.report.unconsumed == 0


@pytest.mark.parametrize("fault", ["0:after-event=2:close", "0:after-event=3:reset"])
def test_codex_retries_a_faulted_stream_and_gets_the_recording(tmp_path: Path, fault: str) -> None:
    cassette = write(tmp_path / "codex-fault.mpk", [sse_exchange(request_body([]), text_events("resp_1", "All done."))])
    with ReplayServer.from_cassettes([cassette], faults=[fault]) as server:
        run = run_codex(tmp_path / "home", server.url, "say done", cwd=tmp_path)
    assert run.rc == 0, run.stderr[-2000:]
    assert "All done." in run.stdout
    # The faulted stream, then Codex's retry of the same request, answered from the recording.
    first, retry = server.log.requests()
    assert first.body_json()["input"] == retry.body_json()["input"]
    # (The hand-built recorded request is not Codex's, hence drift events; only one fault.)
    assert [e.kind for e in server.report.events if e.kind != "drift"] == ["fault"]
    assert server.report.ok


@pytest.mark.parametrize("action", ["close", "reset"])
def test_codex_reconnects_after_a_websocket_cut_and_resumes_at_that_turn(tmp_path: Path, action: str) -> None:
    cassette = codex_websocket_cassette(tmp_path / "codex-ws.mpk")
    with ReplayServer.from_cassettes([cassette], faults=[f"0.1:after-event=2:{action}"]) as server:
        run = run_codex(tmp_path / "home", server.url, "run the echo", supports_websockets=True, cwd=tmp_path)
    assert run.rc == 0, run.stderr[-2000:]
    assert "All done." in run.stdout
    first, second = server.log.connections()
    # Codex retries the cut turn on a new connection with its whole history: it gets the tool call.
    assert len(first) == 2 and second[0].body_json().get("previous_response_id") is None
    assert "rec-tool-ran" in second[-1].body_json()["input"][0]["output"]
    assert [e.kind for e in server.report.events if e.kind != "drift"] == ["fault"]
