"""`rec replay` as a process: the URL line, signals, summary, report, exit status, bad files, timing."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rec.cassette import End
from tests.replayer.builders import request_body, sse_event, sse_exchange, text_events, user_message, write

pytestmark = pytest.mark.slow
REC = [sys.executable, "-m", "rec"]


class Replay:
    """A running `rec replay` subprocess; ``url`` is its first stdout line."""

    def __init__(self, *args: Any) -> None:
        self.process = subprocess.Popen([*REC, "replay", *map(str, args)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=20)
        return self.process.returncode, stderr


@pytest.fixture
def replays() -> Iterator[Any]:
    started: list[Replay] = []

    def start(*args: Any) -> Replay:
        replay = Replay(*args)
        started.append(replay)
        return replay

    yield start
    for replay in started:
        if replay.process.poll() is None:
            replay.process.kill()
            replay.process.communicate()


def raw_post(port: int, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return b"".join(iter(lambda: sock.recv(65536), b""))


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    return write(tmp_path / "run.mpk", [
        sse_exchange(request_body([user_message("one")]), text_events("resp_1", "first")),
        sse_exchange(request_body([user_message("two")]), text_events("resp_2", "second")),
    ])


def test_sigterm_prints_a_summary_writes_the_report_and_exits_0_when_clean(replays: Any, cassette: Path,
                                                                           tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    replay = replays(cassette, "--port", "0", "--report", report)
    assert replay.url.startswith("http://127.0.0.1:") and replay.url.endswith("/v1")
    answer = raw_post(replay.port, json.dumps(request_body([user_message("one")])).encode())
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"first" in answer
    code, stderr = replay.stop()
    assert code == 0, stderr
    assert "served 1, unmatched 0, unused 1, unconsumed 0, violations 0, drifted 0" in stderr
    assert "served POST /v1/responses -> 200 from exchange #0" in stderr
    document = json.loads(report.read_text())
    assert document["rec_report"] == 1 and document["cassettes"] == [str(cassette)]
    assert document["summary"] == {"served": 1, "unmatched": 0, "unused": 1, "unconsumed": 0, "violations": 0,
                                   "drifted": 0}
    (unused,) = document["events"]
    assert unused == {"kind": "unused", "route": "POST /v1/responses", "exchange": 1, "diff": "",
                      "message": unused["message"], "recorded": None, "received": None}


def test_a_violation_makes_sigint_exit_1(replays: Any, cassette: Path) -> None:
    replay = replays(cassette, "--quiet")
    orphan = request_body([{"type": "function_call_output", "call_id": "call_9", "output": "x"}])
    assert raw_post(replay.port, json.dumps(orphan).encode()).startswith(b"HTTP/1.1 400")
    code, stderr = replay.stop(signal.SIGINT)
    assert code == 1
    assert "violation: POST /v1/responses: rec: request breaks a Responses invariant" in stderr
    assert "call id call_9" in stderr and "violations 1" in stderr


def test_port_in_use_is_a_one_line_error(tmp_path: Path, cassette: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*REC, "replay", str(cassette), "--port", str(port)], capture_output=True,
                                text=True, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"rec: error: cannot listen on 127.0.0.1:{port}: address already in use; pick another --port (0 picks a "
        "free one)"]


@pytest.mark.parametrize(("content", "words"), [
    (b"", "not a cassette: the file is empty"),
    (b"just some text\n", "not a cassette"),
])
def test_not_a_cassette_exits_2(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad.mpk"
    path.write_bytes(content)
    result = subprocess.run([*REC, "replay", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_bad_options_exit_2(cassette: Path) -> None:
    for args in (["--timing", "later"], ["--match", "fuzzy"]):
        result = subprocess.run([*REC, "replay", str(cassette), *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and "rec: error:" in result.stderr


def test_truncated_cassette_serves_its_whole_exchanges_with_a_warning(replays: Any, cassette: Path) -> None:
    data = cassette.read_bytes()
    cassette.write_bytes(data[:-10])  # cut into the second exchange
    replay = replays(cassette)
    assert replay.url.endswith("/v1")
    assert b"first" in raw_post(replay.port, json.dumps(request_body([user_message("one")])).encode())
    code, stderr = replay.stop()
    assert "rec: warning:" in stderr and "truncated record" in stderr and "kept 1 whole exchange" in stderr
    assert code == 0


def test_replaying_never_imports_mitmproxy(cassette: Path) -> None:
    script = f"""
import asyncio, sys, json, urllib.request
import rec.cli
from replayer.server import ReplayServer
with ReplayServer.from_cassettes([{str(cassette)!r}]) as server:
    body = json.dumps({{"model": "m", "input": [{{"role": "user", "content": "one"}}]}}).encode()
    urllib.request.urlopen(urllib.request.Request(server.url + "/responses", data=body)).read()
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "mitmproxy")
print(json.dumps(loaded))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def _chunked_arrivals(sock: socket.socket, count: int) -> list[float]:
    """Read an HTTP answer; the monotonic time each of the first ``count`` SSE events was complete."""
    buffer = b""
    arrivals: list[float] = []
    while len(arrivals) < count:
        data = sock.recv(65536)
        if not data:
            break
        now = time.monotonic()
        buffer += data
        arrivals += [now] * (buffer.count(b"\n\n") - len(arrivals))
    return arrivals


def test_recorded_timing_keeps_chunk_boundaries_and_order(replays: Any, tmp_path: Path) -> None:
    """Pacing keeps each recorded chunk separate and in order; how close to its offset is measured in bench/."""
    offsets = [0.0, 15.0, 17.0, 40.0, 75.0, 76.0, 120.0, 180.0]
    events = text_events("resp_1", "paced", 3)[: len(offsets)]
    body = request_body([user_message("pace")])
    chunks = [(at, sse_event(event)) for at, event in zip(offsets, events, strict=True)]
    path = write(tmp_path / "paced.mpk", [sse_exchange(body, events, chunks=chunks, end=End(at_ms=offsets[-1]))])
    replay = replays(path, "--timing", "recorded", "--quiet", "--repeat")
    raw = json.dumps(body).encode()
    request = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw))
    with socket.create_connection(("127.0.0.1", replay.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request)
            arrivals = _chunked_arrivals(sock, len(offsets))
            assert len(arrivals) == len(offsets)
            assert arrivals == sorted(arrivals)
            # A lower bound only: a sleep is never shorter, however loaded the machine.
            assert arrivals[-1] - arrivals[0] >= (offsets[-1] - offsets[1]) / 1000
