"""The page's data: list rows and details built from API-shaped cassettes."""

from __future__ import annotations

from pathlib import Path

from rec.cassette import Header, UnknownRecord, load_cassette, write_cassette
from rec.synth.scenario import Scenario
from rec.view.model import page_data
from tests.view import cassettes


def views(tmp_path: Path, *scenarios: tuple[str, Scenario]) -> list[dict]:
    loaded = [load_cassette(cassettes.write(scenario, tmp_path, name)) for name, scenario in scenarios]
    return page_data(loaded).exchanges


def test_a_codex_session_as_rows(tmp_path: Path) -> None:
    rows = views(tmp_path, ("codex", cassettes.codex_session()))
    assert [(r["n"], r["kind"], r["route"], r["status"]) for r in rows] == [
        (0, "sse", "POST /v1/responses", "200"), (1, "sse", "POST /v1/responses", "200"),
        (2, "sse", "POST /v1/responses", "200"), (3, "http", "POST /v1/responses/compact", "200"),
        (4, "http", "GET /v1/models", "200")]
    assert rows[0]["model"] == cassettes.MODEL and rows[0]["prompt"] == cassettes.PROMPT
    assert rows[0]["outcome"] == "completed · reasoning, shell_command()"
    assert rows[1]["outcome"] == "completed · apply_patch()"
    assert rows[2]["outcome"].startswith("completed · web_search_call, “Done: hello.py")
    assert rows[4]["outcome"] == "models: 1"


def test_a_codex_session_in_detail(tmp_path: Path) -> None:
    first, second, *_ = views(tmp_path, ("codex", cassettes.codex_session()))
    turn = first["detail"]["turns"][0]
    assert turn["facts"]["instructions"] == cassettes.INSTRUCTIONS
    assert turn["facts"]["tools"] == ["shell_command", "apply_patch", "web_search"]
    assert [o["item"]["type"] for o in turn["output"]] == ["reasoning", "function_call"]
    assert turn["output"][0]["item"]["summary"][0]["text"] == "Reading the file first"
    assert turn["response"] == {"id": "resp_1", "status": "completed", "usage": {
        "input_tokens": 1234, "input_tokens_details": None, "output_tokens": 0, "output_tokens_details": None,
        "total_tokens": 1234}}
    assert [i["type"] for i in second["detail"]["turns"][0]["input"]] == ["message", "function_call",
                                                                          "function_call_output"]
    assert second["detail"]["turns"][0]["output"][0]["item"]["input"] == cassettes.PATCH
    headers = {name: (value, redacted) for name, value, redacted in first["detail"]["response"]["headers"]}
    assert headers["authorization"] == ("Bearer [REDACTED]", True)
    assert headers["originator"] == ("codex_cli_rs", False)
    moments = first["detail"]["timeline"]["moments"]
    assert [m["t"] for m in moments] == [0.0, 0.0, 35.0, 70.0, 105.0, 140.0, 175.0]
    assert first["duration"] == 175.0 and first["events"] == 6


def test_a_websocket_with_two_turns(tmp_path: Path) -> None:
    (row,) = views(tmp_path, ("ws", cassettes.websocket_two_turns()))
    assert (row["kind"], row["route"], row["status"]) == ("ws", "WS /v1/responses", "101")
    assert row["prompt"] == "Say hello over the socket"
    assert row["outcome"] == "2 turn(s), close 1000 by client; last: completed · “Hello over the socket.”"
    first, second = row["detail"]["turns"]
    assert first["facts"]["generate"] is False and first["output"] == []
    assert second["facts"]["previous_response_id"] == "resp_w0"
    assert second["output"][0]["item"]["content"][0]["text"] == "Hello over the socket."


def test_a_cut_stream_keeps_what_came_and_says_where_it_stopped(tmp_path: Path) -> None:
    (row,) = views(tmp_path, ("cut", cassettes.cut_stream()))
    assert row["status"] == "200 cut"
    assert row["problem"] == "cut at 1560 ms: stream closed after 4 event(s)"
    assert row["outcome"] == "no end event · “The answer was cut off right”"
    (turn,) = row["detail"]["turns"]
    assert turn["output"] == [{"item": {"type": "message", "role": "assistant", "id": "msg_cut",
                                        "content": [{"type": "output_text", "text": cassettes.CUT_TEXT}]},
                               "done": False}]
    marks = {m["kind"] for m in row["detail"]["timeline"]["marks"]}
    assert {"ttfe", "gap", "cut", "total"} <= marks


def test_failures_say_what_failed(tmp_path: Path) -> None:
    limited, failed, unanswered = views(tmp_path, ("failures", cassettes.failures()))
    assert (limited["kind"], limited["status"], limited["outcome"]) == ("http", "429", "error: rate_limit_exceeded")
    assert limited["detail"]["turns"][0]["response"] == {"error": {
        "type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}}
    assert failed["outcome"] == "failed: server_error"
    assert (unanswered["status"], unanswered["outcome"]) == ("-", "no response")
    assert unanswered["problem"] == "no response: upstream_unreachable"
    assert unanswered["detail"]["response"] is None
    assert [m["kind"] for m in unanswered["detail"]["timeline"]["marks"]] == ["cut", "total"]


def test_numbers_run_across_files_and_skip_records_the_replayer_does_not_serve(tmp_path: Path) -> None:
    odd = tmp_path / "odd.mpk"
    write_cassette(odd, Header(), [UnknownRecord({"type": "future_thing", "x": b"\x00"}, kind="future_thing")])
    ws = cassettes.write(cassettes.websocket_two_turns(), tmp_path, "ws")
    cut = cassettes.write(cassettes.cut_stream(), tmp_path, "cut")
    data = page_data([load_cassette(p) for p in (ws, odd, cut)])
    assert [(e["n"], e["source"], e["kind"]) for e in data.exchanges] == [(0, 0, "ws"), (None, 1, "future_thing"),
                                                                         (1, 2, "sse")]
    assert data.exchanges[1]["detail"]["record"] == {"type": "future_thing", "x": "\x00"}
    assert [s["path"] for s in data.sources] == [str(ws), str(odd), str(cut)]
    assert data.title == "ws.mpk, odd.mpk, cut.mpk"


def test_a_cut_cassette_file_is_shown_with_a_warning(tmp_path: Path) -> None:
    path = cassettes.write(cassettes.codex_session(), tmp_path, "codex")
    path.write_bytes(path.read_bytes()[:-20])
    data = page_data([load_cassette(path)])
    assert len(data.exchanges) == 4
    assert "kept 4 whole exchange(s)" in data.sources[0]["warnings"][0]
