"""The official Node SDK (npm `openai`, pinned in package.json): recorded through rec record, replayed clean."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rec.cassette import WebSocketExchange, load_cassette
from tests.clients.support import assert_clean, round_trip

SCRIPT = Path(__file__).with_name("node_client.mjs")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")]


def node_client(mode: str) -> Any:
    def run(base_url: str) -> Any:
        done = subprocess.run(["node", str(SCRIPT), base_url, mode], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)
    return run


def test_streams_helper_chained_json_and_models_replay_clean(tmp_path: Path) -> None:
    trip = round_trip(node_client("http"), tmp_path)
    assert trip.recorded["streamed"] == "Hello from the stand-in."
    assert trip.recorded["chained"][2] is True and trip.recorded["models"] == ["gpt-5"]
    assert_clean(trip)


@pytest.mark.parametrize(("mode", "routed"), [("websocket", False), ("websocket-deflate", False),
                                               ("websocket", True)], ids=["plain", "deflate", "routed"])
def test_websocket_mode_with_two_chained_turns_replays_clean(tmp_path: Path, mode: str, routed: bool) -> None:
    """Routed: recorded through `rec record --routes`, under a recording's prefix, as the pytest plugin records."""
    trip = round_trip(node_client(mode), tmp_path, routed=routed)
    assert trip.recorded["websocket"] == ["Hello from the stand-in.", "Hello from the stand-in."]
    assert_clean(trip)
    [socket] = [e for e in load_cassette(tmp_path / "run.mpk").exchanges if isinstance(e, WebSocketExchange)]
    negotiated = any(ext.startswith("permessage-deflate") for ext in socket.extensions)
    assert negotiated == (mode == "websocket-deflate")
