"""`rec record --routes`: one recorder, many cassettes, each client's traffic under its own prefix (real mitmproxy)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from rec.cassette import load_cassette
from tests.recorder.support import control, routed_recorder
from tests.support.upstream import running_upstream

pytestmark = pytest.mark.slow


def test_each_recording_gets_its_own_clients_exchanges_and_nothing_else(tmp_path: Path) -> None:
    with running_upstream() as upstream, routed_recorder(upstream.url) as recorder:
        origin = recorder.url
        try:
            assert control(origin, "POST", "/__rec/recordings", {"output": str(tmp_path / "x.mpk")},
                           secret="wrong")[0] == 403
            assert not (tmp_path / "x.mpk").exists()
            opened = {name: control(origin, "POST", "/__rec/recordings", {"output": str(tmp_path / f"{name}.mpk")})
                      for name in ("a", "b")}
            assert {status for status, _ in opened.values()} == {201}
            assert control(origin, "POST", "/__rec/recordings", {"output": str(tmp_path / "a.mpk")})[0] == 409
            for name, prompt in (("a", "first of a"), ("b", "only b"), ("a", "second of a")):
                sdk = OpenAI(base_url=opened[name][1]["base_url"], api_key="sk-proj-routes0123456789abcdef",
                             max_retries=0)
                assert sdk.responses.create(model="gpt-test", input=prompt).output_text
            with pytest.raises(Exception, match="404"):
                OpenAI(base_url=f"{origin}/v1", api_key="k", max_retries=0).models.list()  # no recording's prefix
            for _, answer in opened.values():
                assert control(origin, "DELETE", f"/__rec/recordings/{answer['id']}")[0] == 200
        finally:
            rc, _, err = recorder.stop()
        assert rc == 0, err
        assert [r["path"] for r in upstream.requests] == ["/v1/responses"] * 3  # the prefix never went upstream
    recorded = {name: [(e.request.path, json.loads(e.request.body)["input"])
                       for e in load_cassette(tmp_path / f"{name}.mpk").exchanges] for name in ("a", "b")}
    assert recorded == {"a": [("/v1/responses", "first of a"), ("/v1/responses", "second of a")],
                        "b": [("/v1/responses", "only b")]}
    assert b"sk-proj-routes" not in (tmp_path / "a.mpk").read_bytes() + (tmp_path / "b.mpk").read_bytes()


def test_closing_a_recording_waits_for_the_stream_still_flowing_and_keeps_it_whole(tmp_path: Path) -> None:
    with running_upstream(gap_s=0.1) as upstream, routed_recorder(upstream.url) as recorder:
        origin = recorder.url
        try:
            _, opened = control(origin, "POST", "/__rec/recordings", {"output": str(tmp_path / "s.mpk")})
            host, port = origin.removeprefix("http://").split(":")
            body = json.dumps({"model": "gpt-test", "input": "stream it", "stream": True}).encode()
            closed: list[tuple[int, Any]] = []
            closing = threading.Thread(target=lambda: closed.append(
                control(origin, "DELETE", f"/__rec/recordings/{opened['id']}")))
            with socket.create_connection((host, int(port))) as client:
                client.sendall(b"POST %s/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                               b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                               % (opened["base_url"].split(port, 1)[1].encode(), len(body), body))
                received = client.recv(65536)
                closing.start()  # the stream has begun, and goes on (an event every 0.1 s) while it is closed
                while chunk := client.recv(65536):
                    received += chunk
            closing.join()
        finally:
            rc, _, err = recorder.stop()
        assert rc == 0, err
    assert b"response.completed" in received
    assert closed == [(200, {"id": opened["id"], "output": str(tmp_path / "s.mpk"), "unfinished": 0})]
    [exchange] = load_cassette(tmp_path / "s.mpk").exchanges
    assert exchange.end.state == "completed"
    assert exchange.response is not None and b"response.completed" in b"".join(c for _, c in exchange.response.chunks)
