"""Record a real client through `rec record` from the stand-in upstream, then replay it with the upstream gone."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.recorder.support import control, routed_recorder, start_recorder
from tests.support.upstream import Upstream, running_upstream

REC = Path(sys.executable).parent / "rec"
Seen = TypeVar("Seen")


@dataclass
class RoundTrip:
    """What the client saw live and in replay, and how the replay ended."""

    recorded: Any
    replayed: Any
    replay_rc: int
    summary: dict[str, int]
    replay_log: str


def record(run_client: Callable[[str], Seen], cassette: Path, kind: type[Upstream] = Upstream,
           gap_s: float = 0.0, routed: bool = False) -> Seen:
    """Run the client through `rec record` against the stand-in upstream (``kind``); what it saw.

    ``routed``: through `rec record --routes` as the pytest plugin records, the client's base URL under the
    prefix of a recording opened over the control API.
    """
    with running_upstream(gap_s=gap_s, kind=kind) as upstream:
        if routed:
            return _record_routed(run_client, cassette, upstream.url)
        recorder = start_recorder(upstream.url, cassette)
        try:
            seen = run_client(recorder.url)
        finally:
            rc, _, err = recorder.stop()
        assert rc == 0, err
    return seen


def _record_routed(run_client: Callable[[str], Seen], cassette: Path, upstream: str) -> Seen:
    with routed_recorder(upstream) as recorder:
        try:
            status, opened = control(recorder.url, "POST", "/__rec/recordings", {"output": str(cassette)})
            assert status == 201, opened
            seen = run_client(opened["base_url"].removesuffix("/v1"))
            assert control(recorder.url, "DELETE", f"/__rec/recordings/{opened['id']}")[0] == 200
        finally:
            rc, _, err = recorder.stop()
    assert rc == 0, err
    return seen


def replay(run_client: Callable[[str], Seen], cassettes: list[Path], *options: str,
           cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[Seen, int, dict[str, int], str]:
    """Run the client against `rec replay` (the upstream is gone by now); what it saw and the replay's verdict."""
    process = subprocess.Popen([str(REC), "replay", *map(str, cassettes), *options], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        seen = run_client(url)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    found = re.search(r"served (\d+), unmatched (\d+), unused (\d+), unconsumed (\d+), violations (\d+), "
                      r"drifted (\d+)", err)
    assert found is not None, err
    keys = ("served", "unmatched", "unused", "unconsumed", "violations", "drifted")
    return seen, process.returncode, dict(zip(keys, map(int, found.groups()), strict=True)), err


def round_trip(run_client: Callable[[str], Any], tmp_path: Path, *options: str, routed: bool = False) -> RoundTrip:
    cassette = tmp_path / "run.mpk"
    recorded = record(run_client, cassette, routed=routed)
    replayed, rc, summary, log = replay(run_client, [cassette], *options)
    return RoundTrip(recorded, replayed, rc, summary, log)


def assert_clean(trip: RoundTrip) -> None:
    """The replay exited 0 with nothing unmatched, unused or unconsumed, no violation, and the client saw the same."""
    assert trip.replay_rc == 0, trip.replay_log
    assert {k: v for k, v in trip.summary.items() if k not in ("served", "drifted")} == \
        {"unmatched": 0, "unused": 0, "unconsumed": 0, "violations": 0}, trip.replay_log
    assert trip.replayed == trip.recorded
