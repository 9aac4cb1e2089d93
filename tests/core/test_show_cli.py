"""`rec show`: the table, the JSON, and a one-line error for each bad input."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard

from rec.cassette import Close, End, Frame, Header, HttpExchange, Request, Response, WebSocketExchange, write_cassette

REC = [sys.executable, "-m", "rec"]


def run_rec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REC, *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    path = tmp_path / "run.mpk"
    sse = HttpExchange(
        request=Request(method="POST", path="/v1/responses", body=b'{"input":[]}'),
        response=Response(status=200, headers=[("Content-Type", "text/event-stream")],
                          chunks=[(3.0, b"event: response.created\ndata: {}\n\n"),
                                  (120.0, b"event: response.completed\ndata: {}\n\n")]),
        end=End(at_ms=121.0),
    )
    ws = WebSocketExchange(
        request=Request(method="GET", path="/v1/responses"),
        response=Response(status=101),
        frames=[Frame(1.0, True, True, b'{"type":"response.create"}'), Frame(9.0, False, False, b"\xff\x00")],
        close=Close(code=1000, by="client", at_ms=10.0),
    )
    write_cassette(path, Header(upstream="https://api.openai.com"), [sse, ws])
    return path


def test_table_lists_each_exchange(cassette: Path) -> None:
    result = run_rec("show", cassette)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "upstream https://api.openai.com" in lines[0]
    assert lines[2].split()[:6] == ["0", "http", "POST", "/v1/responses", "200", "2"]
    assert "121 ms" in lines[2]
    assert lines[3].split()[:5] == ["1", "ws", "WS", "/v1/responses", "101"]
    assert "2 frames (1 in)" in lines[3]
    assert lines[-1] == "2 exchange(s)"


def test_json_has_text_where_valid_and_marked_base64_elsewhere(cassette: Path) -> None:
    result = run_rec("show", cassette, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    first, second = document["exchanges"]
    assert first["request"]["body"] == '{"input":[]}'
    assert first["response"]["chunks"][1] == [120.0, "event: response.completed\ndata: {}\n\n"]
    assert second["frames"][1]["payload"] == {"$base64": base64.b64encode(b"\xff\x00").decode()}
    assert document["header"]["format"] == "rec-cassette"


def test_limit_reads_only_the_first_exchanges(cassette: Path) -> None:
    result = run_rec("show", cassette, "-n", "1")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "1 exchange(s) shown"


def test_a_truncated_cassette_shows_what_it_holds_and_warns(cassette: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mpk"
    cut.write_bytes(cassette.read_bytes()[:-5])
    result = run_rec("show", cut)
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "1 exchange(s)"
    assert "warning" in result.stderr and "truncated record" in result.stderr


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mpk", None, "no such file"),
        ("a-directory", "dir", "is a directory"),
        ("empty.mpk", b"", "the file is empty"),
        ("random.mpk", bytes(range(7, 200)), "it is not zstd-compressed"),
        ("text.zst", _zstd(b"hello there"), "the first record is not msgpack"),
        ("other.zst", _zstd(msgpack.packb({"format": "something-else"})), "without a rec cassette header"),
        ("newer.mpk", _zstd(msgpack.packb({**Header().to_record(), "version": 4})), "version 4 is newer"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(tmp_path: Path, name: str, content: bytes | str | None,
                                             message: str) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    result = run_rec("show", path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("rec: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_rows_of_one_route_tell_their_conversations_apart(tmp_path: Path) -> None:
    from rec.synth.events import ev_assistant_message, ev_completed, ev_function_call, ev_response_created
    from rec.synth.scenario import Scenario

    scenario = Scenario()
    call = ev_function_call("call_1", "shell", "{}")
    scenario.sse_turn([ev_response_created("resp_a"), call, ev_completed("resp_a")],
                      request={"model": "gpt-5", "input": "list the files"})
    scenario.sse_turn([ev_response_created("resp_b"), ev_assistant_message("m", "Two files."), ev_completed("resp_b")],
                      request={"model": "gpt-5", "input": [{"type": "function_call_output", "call_id": "call_1",
                                                            "output": "a b"}]})
    path = tmp_path / "two.mpk"
    scenario.write(path)
    result = run_rec("show", path)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:4]
    assert "gpt-5 · 'list the files' → resp_a completed: shell()" in rows[0]
    assert "'<function_call_output call_1>' → resp_b completed: 'Two files.'" in rows[1]


def test_the_table_ends_with_the_cassettes_totals(tmp_path: Path) -> None:
    from tests.diff.sessions import Session

    path = Session(delay_ms=10.0).write(tmp_path / "agent.mpk")
    lines = run_rec("show", path).stdout.splitlines()
    # Three answers of 1,200 input (1,000 cached) tokens: 40, 8 and 40 output tokens (16, 0 and 16 reasoning).
    assert lines[-2] == ("totals: tokens 3,688 (input 3,600, cached 3,000, output 88, reasoning 32); time to first "
                         "event 1 ms, duration 79 ms (summed over the exchanges)")
    assert lines[-1] == "4 exchange(s)"


def many_exchanges(count: int, bad_at: int | None = None) -> list[HttpExchange]:
    def exchange(n: int) -> HttpExchange:
        ended: Any = "not a number" if n == bad_at else 0.0
        return HttpExchange(request=Request(method="POST", path="/v1/responses", body=b'{"input": "hi"}'),
                            response=Response(status=200, chunks=[(0.0, b"data: {}\n\n")]), end=End(at_ms=ended))
    return [exchange(n) for n in range(count)]


def test_rows_are_printed_as_they_are_read(tmp_path: Path) -> None:
    """The rows before a malformed record are out before the error: nothing waits for the whole cassette."""
    path = tmp_path / "run.mpk"
    write_cassette(path, Header(), many_exchanges(40, bad_at=30))
    result = run_rec("show", path)
    assert result.returncode == 2 and "exchange #30" in result.stderr
    rows = result.stdout.splitlines()[2:]
    assert [row.split()[0] for row in rows] == [str(n) for n in range(30)]


def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path) -> None:
    path = tmp_path / "run.mpk"
    write_cassette(path, Header(), many_exchanges(5000))
    for args in ((), ("--json",)):
        process = subprocess.Popen([*REC, "show", str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()  # as `| head -1` does
        process.stdout.close()
        assert process.wait(timeout=60) == 0
        assert process.stderr.read() == b""
