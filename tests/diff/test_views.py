"""Views: bodies nested deeper than any API body are compared as text, so no walk over them exhausts the stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rec.cassette import Frame
from rec.diff.views import MAX_JSON_DEPTH, decoded, nests_deeper_than
from rec.synth.scenario import Scenario

REC = Path(sys.executable).parent / "rec"


def deep(depth: int, leaf: str = "x") -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def test_json_is_parsed_up_to_the_bound_and_text_beyond() -> None:
    assert decoded(deep(MAX_JSON_DEPTH - 1).encode()) == json.loads(deep(MAX_JSON_DEPTH - 1))
    for depth in (MAX_JSON_DEPTH + 1, 1_200, 10_000):  # 1,200 parses, 10,000 does not: both come back as text
        assert decoded(deep(depth).encode()) == deep(depth)
    assert decoded(b"\xff\xfe") == "<2 binary bytes>"


def test_depth_is_measured_without_recursion() -> None:
    value: list = []
    for _ in range(100_000):
        value = [value]
    assert nests_deeper_than(value, 99_999) and not nests_deeper_than(value, 100_001)


def cassette(path: Path, leaf: str) -> Path:
    """A 10,000-deep JSON body in a request, in an SSE event and in a WebSocket message."""
    body = json.loads(json.dumps({"model": "m", "input": "hi"}))
    scenario = Scenario().sse_turn([{"type": "response.created", "response": {"id": "resp_1"}}], request=body)
    scenario.json_turn({"ok": True}, request={"model": "m"})
    scenario.websocket([(None, [{"type": "response.created"}])])
    first, second, socket = scenario.exchanges
    first.request.body = deep(10_000, leaf).encode()
    second.response.chunks = [(0.0, deep(10_000, leaf).encode())]  # type: ignore[union-attr]
    socket.frames.append(Frame(at_ms=5.0, from_client=False, is_text=True,  # type: ignore[union-attr]
                               payload=deep(10_000, leaf).encode()))
    scenario.write(path)
    return path


def test_rec_diff_compares_10k_deep_bodies_without_a_traceback(tmp_path: Path) -> None:
    old, new = cassette(tmp_path / "old.mpk", "x"), cassette(tmp_path / "new.mpk", "y")
    same = subprocess.run([str(REC), "diff", old, old, "--format", "json"], capture_output=True, text=True,
                          timeout=60)
    assert same.returncode == 0 and same.stderr == "" and json.loads(same.stdout)["verdict"] == "identical"
    different = subprocess.run([str(REC), "diff", old, new], capture_output=True, text=True, timeout=60)
    assert different.returncode == 1 and different.stderr == ""
    assert "verdict: requests_changed" in different.stdout
