"""`rec record` with real clients through real mitmproxy to the stand-in upstream."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from rec.cassette import HttpExchange, WebSocketExchange, load_cassette
from rec.cli.record import check_upstream
from rec.sse import split_events
from tests.recorder.support import REC, Recorder, on_disk, start_recorder
from tests.support.upstream import Upstream, running_upstream

KEY = "sk-proj-recordtestkey0123456789abcdef"
TOOLS = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {}}}]


def client(url: str, **headers: str) -> OpenAI:
    return OpenAI(base_url=url, api_key=KEY, max_retries=0, default_headers=headers or None)


def test_sdk_stream_models_compact_and_websocket_are_recorded(recorder: Recorder, upstream: Upstream) -> None:
    sdk = client(recorder.url)
    streamed = [event.type for event in sdk.responses.create(model="gpt-5", input="hi", tools=TOOLS, stream=True)]
    assert sdk.models.list().data[0].id == "gpt-5"
    compacted = sdk.responses.compact(model="gpt-5", input=[{"role": "user", "content": "long story"}])
    with sdk.responses.connect() as connection:
        connection.response.create(model="gpt-5", input="hello")
        ws_events = []
        for event in connection:
            ws_events.append(event.type)
            if event.type == "response.completed":
                break
    rc, _, err = recorder.stop()
    assert rc == 0, err
    assert "recorded 4 exchange(s) (1 WebSocket, 0 failed)" in err

    cassette = load_cassette(recorder.output)
    assert cassette.header.upstream == upstream.url
    stream, models, compact, ws = cassette.exchanges
    assert isinstance(stream, HttpExchange) and stream.response is not None
    recorded_types = [json.loads(e.data)["type"] for e in split_events(stream.response.body) if e.data]
    assert recorded_types == streamed
    assert json.loads(stream.request.body)["input"] == "hi"
    assert stream.end.state == "completed"
    assert models.response is not None and models.response.header("etag") == '"models-v1"'
    assert compact.request.path == "/v1/responses/compact"
    assert compact.response is not None
    assert json.loads(compact.response.body)["output"][-1]["type"] == compacted.output[-1].type == "compaction"
    assert isinstance(ws, WebSocketExchange) and ws.response.status == 101
    assert [json.loads(f.payload)["type"] for f in ws.frames if f.from_client] == ["response.create"]
    assert [json.loads(f.payload)["type"] for f in ws.frames if not f.from_client] == ws_events
    assert ws.close is not None and ws.close.by == "client"
    assert ws.frames == sorted(ws.frames, key=lambda f: f.at_ms)


def test_events_pass_through_live_with_their_times(tmp_path: Path) -> None:
    with running_upstream(gap_s=0.3) as upstream:
        recorder = start_recorder(upstream.url, tmp_path / "live.mpk")
        seen_at: list[float] = []
        for _ in client(recorder.url).responses.create(model="gpt-5", input="hi", tools=TOOLS, stream=True):
            seen_at.append(time.time())
        recorder.stop()
    # The client had the first event while the upstream was still sending (0.3 s between events): nothing was held
    # back to the end. Not the second event: a loaded machine may delay the first one that long without buffering.
    assert seen_at[0] < upstream.sent_at[-1]
    exchange = load_cassette(tmp_path / "live.mpk").exchanges[0]
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    offsets = [at for at, _ in exchange.response.chunks]
    assert len(offsets) >= 5
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(gap > 200 for gap in gaps[1:]), offsets


def test_secrets_never_reach_the_disk(tmp_path: Path) -> None:
    with running_upstream(echo_secret=KEY) as upstream:
        recorder = start_recorder(upstream.url, tmp_path / "secret.mpk", "--redact", "header:x-tenant")
        sdk = client(recorder.url, Cookie="session=cookie-secret-value-42", **{"x-tenant": "tenant-secret-7"})
        list(sdk.responses.create(model="gpt-5", input=f"my key is {KEY}", stream=True))
        with sdk.responses.connect() as connection:
            connection.response.create(model="gpt-5", input=f"again {KEY}")
            for event in connection:
                if event.type == "response.completed":
                    break
        recorder.stop()
    # The upstream did get the real key (the proxy forwards it), and echoed it back.
    assert upstream.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    plain = on_disk(tmp_path / "secret.mpk")  # decompressed (rec show --json) and the raw file
    for secret in (KEY, "cookie-secret-value-42", "tenant-secret-7", KEY[:20]):
        assert secret not in plain, secret
    assert "[REDACTED]" in plain
    stream = load_cassette(tmp_path / "secret.mpk").exchanges[0]
    assert isinstance(stream, HttpExchange) and stream.response is not None
    # Redaction kept the framing: every event still parses.
    for event in split_events(stream.response.body):
        json.loads(event.data or "{}")


def test_upstream_reset_mid_stream_is_recorded_and_the_client_sees_it(recorder: Recorder) -> None:
    sdk = client(recorder.url, **{"x-upstream-fault": "reset:3"})
    got = []
    with pytest.raises((openai.APIError, Exception)):
        for event in sdk.responses.create(model="gpt-5", input="hi", tools=TOOLS, stream=True):
            got.append(event.type)
    assert len(got) < 6
    recorder.stop()
    exchange = load_cassette(recorder.output).exchanges[0]
    assert isinstance(exchange, HttpExchange)
    assert exchange.end.state == "error"
    assert exchange.end.error in ("reset", "cut")
    assert exchange.response is not None and len(split_events(exchange.response.body)) == 3


def test_kill_9_keeps_every_finished_exchange(recorder: Recorder) -> None:
    sdk = client(recorder.url)
    for _ in range(2):
        list(sdk.responses.create(model="gpt-5", input="hi", stream=True))
    sdk.models.list()
    # The client can hold its answer a moment before the recorder has written it: wait until it has.
    deadline = time.monotonic() + 30
    while len(load_cassette(recorder.output).exchanges) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    recorder.process.kill()
    recorder.process.communicate(timeout=10)
    cassette = load_cassette(recorder.output)
    assert [e.request.path for e in cassette.exchanges] == ["/v1/responses", "/v1/responses", "/v1/models"]


def test_upstream_down_gives_the_client_a_502_and_a_failed_exchange(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    recorder = start_recorder(f"http://127.0.0.1:{dead_port}", tmp_path / "down.mpk")
    with pytest.raises(openai.APIStatusError) as caught:
        client(recorder.url).models.list()
    assert caught.value.status_code == 502
    assert "Connect call failed" in str(caught.value.body or caught.value.message), caught.value.message
    rc, _, err = recorder.stop()
    assert rc == 0
    exchange = load_cassette(tmp_path / "down.mpk").exchanges[0]
    assert isinstance(exchange, HttpExchange) and exchange.response is None
    assert exchange.end.error == "upstream_unreachable", exchange.end
    assert "failed" in err


def run_rec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REC), "record", *args], capture_output=True, text=True, timeout=30)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_rec("--upstream", "http://127.0.0.1:9", "-o", str(tmp_path / "x.mpk"), "--port", str(port))
    assert result.returncode == 2
    assert "port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--upstream", "api.openai.com"], "is not an http(s) origin"),
    (["--upstream", "https://api.openai.com/v1"], "must be an origin without a path"),
    (["--upstream", "https://x:99999"], "bad port"),
    ([], "give either --upstream"),
    (["--upstream", "http://127.0.0.1:9", "--redact", "color:red"], "unknown kind 'color'"),
])
def test_bad_arguments_name_the_problem(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_rec(*args, "-o", str(tmp_path / "x.mpk"))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_ipv6_upstream_keeps_its_brackets() -> None:
    assert check_upstream("http://[::1]:8080/") == "http://[::1]:8080"
    assert check_upstream("https://API.openai.com") == "https://api.openai.com"


def test_an_ipv6_listener_prints_its_url_in_brackets(upstream: Upstream, tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 cannot be listened on here")
    recorder = start_recorder(upstream.url, tmp_path / "six.mpk", "--host", "::1")
    try:
        assert recorder.url.startswith("http://[::1]:") and recorder.url.endswith("/v1"), recorder.url
        assert client(recorder.url).models.list().data[0].id == "gpt-5"  # the printed URL is a working base URL
    finally:
        rc, _, err = recorder.stop()
    assert rc == 0 and "recorded 1 exchange(s)" in err


def test_unwritable_output_is_refused_before_listening(tmp_path: Path) -> None:
    result = run_rec("--upstream", "http://127.0.0.1:9", "-o", str(tmp_path / "no" / "such" / "dir" / "x.mpk"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr
    assert result.stdout == ""


def test_sigterm_flushes_and_summarizes(recorder: Recorder) -> None:
    client(recorder.url).models.list()
    rc, out, err = recorder.stop(signal.SIGTERM)
    assert rc == 0
    assert out.strip() == ""  # the URL line was read already; nothing else goes to stdout
    assert "recorded 1 exchange(s)" in err
    assert os.path.getsize(recorder.output) > 0
