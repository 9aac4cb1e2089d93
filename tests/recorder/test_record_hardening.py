"""Secrets wherever they travel, a kill -9 mid-WebSocket, planted symlinks, no stray CA: `rec record` end to end."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import brotli
import pytest
from openai import OpenAI

from rec.cassette import HttpExchange, WebSocketExchange, load_cassette
from replayer.server import ReplayServer
from tests.recorder.support import REC, on_disk, recording
from tests.support.upstream import raw_upstream, running_upstream

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaGF0Z3B0LXVzZXIifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
AZURE_KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.slow
def test_a_token_seen_only_on_the_websocket_handshake_is_scrubbed_from_its_frames(tmp_path: Path) -> None:
    with running_upstream(echo_secret=JWT) as upstream, recording(upstream.url, tmp_path / "ws.mpk") as recorder:
        client = OpenAI(base_url=recorder.url, api_key=JWT, max_retries=0)
        with client.responses.connect() as connection:
            connection.response.create(model="gpt-test", input="hi")
            for event in connection:
                if event.type == "response.completed":
                    break
    text = on_disk(tmp_path / "ws.mpk")
    assert JWT not in text and JWT[-20:] not in text and "[REDACTED]" in text


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "deflate"])
def test_a_compressed_answer_is_stored_decoded_and_scrubbed(tmp_path: Path, coding: str) -> None:
    secret = "sk-proj-compressedsecret0123456789"
    with running_upstream(echo_secret=secret) as upstream, recording(upstream.url, tmp_path / "c.mpk") as recorder:
        client = OpenAI(base_url=recorder.url, api_key="sk-test-0123456789abcdef", max_retries=0,
                        default_headers={"x-upstream-compress": coding})
        assert "your key is" in client.models.list().data[0].owned_by  # the client got it decoded
    assert secret not in on_disk(tmp_path / "c.mpk")
    [exchange] = load_cassette(tmp_path / "c.mpk").exchanges
    assert exchange.response is not None and exchange.response.header("content-encoding") is None
    assert b"your key is [REDACTED]" in exchange.response.body


@pytest.mark.slow
def test_secret_query_parameters_and_an_azure_key_header_are_redacted(tmp_path: Path) -> None:
    with running_upstream() as upstream, recording(upstream.url, tmp_path / "q.mpk") as recorder:
        query = f"api-key={AZURE_KEY}&token=tok_abcdefgh12345&limit=5"
        request = urllib.request.Request(f"{recorder.url}/models?{query}", headers={"api-key": AZURE_KEY})
        urllib.request.urlopen(request, timeout=10).read()
    text = on_disk(tmp_path / "q.mpk")
    assert AZURE_KEY not in text and "tok_abcdefgh12345" not in text
    [exchange] = load_cassette(tmp_path / "q.mpk").exchanges
    assert dict(exchange.request.query) == {"api-key": "[REDACTED]", "token": "[REDACTED]", "limit": "5"}


@pytest.mark.slow
def test_a_br_request_body_with_a_secret_stays_br_and_clean(tmp_path: Path) -> None:
    body = brotli.compress(json.dumps({"model": "gpt-test", "input": "my key sk-proj-brsecret0123456789abc",
                                       "stream": True}).encode())
    with running_upstream() as upstream, recording(upstream.url, tmp_path / "br.mpk") as recorder:
        request = urllib.request.Request(f"{recorder.url}/responses", data=body, method="POST",
                                         headers={"content-type": "application/json", "content-encoding": "br"})
        urllib.request.urlopen(request, timeout=10).read()
    [exchange] = load_cassette(tmp_path / "br.mpk").exchanges
    assert exchange.request.header("content-encoding") == "br"
    assert b"[REDACTED]" in brotli.decompress(exchange.request.body)
    assert "brsecret" not in on_disk(tmp_path / "br.mpk")


@pytest.mark.slow
def test_kill_9_during_a_websocket_session_keeps_every_finished_turn(tmp_path: Path) -> None:
    with running_upstream() as upstream, recording(upstream.url, tmp_path / "cut.mpk") as recorder:
        client = OpenAI(base_url=recorder.url, api_key="sk-test-0123456789abcdef", max_retries=0)
        with client.responses.connect() as connection:
            for turn in range(3):
                connection.response.create(model="gpt-test", input=f"turn {turn}")
                for event in connection:
                    if event.type == "response.completed":
                        break
            # Each turn reaches the disk once the recorder has seen its end: wait (poll) for the third.
            deadline = time.monotonic() + 30
            while _turns_on_disk(tmp_path / "cut.mpk") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            recorder.process.send_signal(signal.SIGKILL)
            recorder.process.wait(timeout=10)
    [socket_exchange] = load_cassette(tmp_path / "cut.mpk").exchanges
    assert isinstance(socket_exchange, WebSocketExchange) and socket_exchange.close is None
    assert _turns_on_disk(tmp_path / "cut.mpk") == 3
    assert "cut" in socket_exchange.extra


def _turns_on_disk(path: Path) -> int:
    exchanges = load_cassette(path).exchanges
    return sum(frame.from_client for e in exchanges if isinstance(e, WebSocketExchange) for frame in e.frames)


@pytest.mark.slow
def test_an_output_path_that_is_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "run.mpk").symlink_to(victim)
    home = tmp_path / "home"
    home.mkdir()
    with running_upstream() as upstream:
        process = subprocess.Popen([str(REC), "record", "--upstream", upstream.url, "-o", str(tmp_path / "run.mpk")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1"})
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        urllib.request.urlopen(f"{url}/models", timeout=10).read()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "run.mpk").is_symlink() and len(load_cassette(tmp_path / "run.mpk").exchanges) == 1
    assert not (home / ".mitmproxy").exists()  # a reverse proxy needs no CA, so none is made


MODELS = b'{"object": "list", "data": [{"id": "gpt-test", "object": "model", "created": 1, "owned_by": "x"}]}'


# An upstream of an older school: it folds a long header over two lines (RFC 9112 5.2's obs-fold).
FOLDED_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"X-Trace: first part\r\n\t second part\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(MODELS), MODELS))


# An upstream that writes a header value in Latin-1 (RFC 9110 lets a value carry any byte, as obs-text).
LATIN1_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Place: Z\xfcrich caf\xe9\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(MODELS), MODELS))


@pytest.mark.slow
def test_a_header_value_that_is_not_utf8_is_recorded_and_read_as_latin1(tmp_path: Path) -> None:
    """The exchange is kept, not lost: each byte that is not UTF-8 is stored as the Latin-1 character it names (a
    cassette holds text), and a replay sends that text, which the openai SDK's client reads as it read it live."""
    with raw_upstream(lambda connection: connection.sendall(LATIN1_ANSWER)) as upstream, \
            recording(upstream, tmp_path / "latin1.mpk") as recorder:
        live = OpenAI(base_url=recorder.url, api_key="k", max_retries=0).models.with_raw_response.list()
    assert live.headers["x-place"] == "Zürich café"
    [exchange] = load_cassette(tmp_path / "latin1.mpk").exchanges
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    assert exchange.response.header("x-place") == "Zürich café"
    with ReplayServer.from_cassettes([tmp_path / "latin1.mpk"]) as server:
        replayed = OpenAI(base_url=server.url, api_key="k", max_retries=0).models.with_raw_response.list()
        assert replayed.headers["x-place"] == "Zürich café" and replayed.content == MODELS


@pytest.mark.slow
def test_a_folded_header_is_recorded_read_and_replayed_as_one_line(tmp_path: Path) -> None:
    """mitmproxy keeps a folded value as it came ("first part\\r\\n second part"): the cassette reads (no false alarm
    of a header that breaks its line), the value unfolded as the RFC says, and is served so."""
    folding = raw_upstream(lambda connection: connection.sendall(FOLDED_ANSWER))
    with folding as upstream, recording(upstream, tmp_path / "fold.mpk") as recorder:
        assert OpenAI(base_url=recorder.url, api_key="k", max_retries=0).models.list().data[0].id == "gpt-test"
    [exchange] = load_cassette(tmp_path / "fold.mpk").exchanges
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    assert exchange.response.header("x-trace") == "first part second part"
    with ReplayServer.from_cassettes([tmp_path / "fold.mpk"]) as server:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
        connection.request("GET", "/v1/models")
        answer = connection.getresponse()
        assert answer.status == 200 and answer.getheader("x-trace") == "first part second part"
        assert answer.read() == MODELS
