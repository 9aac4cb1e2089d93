"""The Codex CLI in a multi-turn session (`codex exec`, then `codex exec resume --last`), over HTTP and over the
WebSocket: recorded in one home and folder, replayed by body from another, and two recordings diffed equal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.clients.support import REC, record, replay
from tests.support.codex import CodexRun, codex_available, run_codex

pytestmark = [
    pytest.mark.slow,
    pytest.mark.codex,
    pytest.mark.skipif(not codex_available(), reason="the Codex CLI is not installed (make install)"),
]


def session(machine: Path, websocket: bool) -> object:
    """Two turns of one Codex session on a "machine" (its own CODEX_HOME and working folder); what Codex printed."""
    def run(base_url: str) -> list[str]:
        home, work = machine / ".codex", machine / "project"
        work.mkdir(parents=True, exist_ok=True)
        first = run_codex(home, base_url, "run echo hi", supports_websockets=websocket, cwd=work)
        second = run_codex(home, base_url, "now say hello", supports_websockets=websocket, cwd=work, resume_last=True)
        return [_answer(first), _answer(second)]
    return run


def _answer(run: CodexRun) -> str:
    """The agent's final message (Codex prints it alone on stdout)."""
    assert run.rc == 0, run.stderr[-3000:]
    return run.stdout.strip()


@pytest.mark.parametrize(("websocket", "routed"), [(False, False), (True, False), (True, True)],
                         ids=["http", "websocket", "websocket-routed"])
def test_a_session_replays_by_body_from_another_home_and_folder(tmp_path: Path, websocket: bool, routed: bool) -> None:
    """Routed: recorded through `rec record --routes`, under a recording's prefix, as the pytest plugin records."""
    cassette = tmp_path / "session.mpk"
    recorded = record(session(tmp_path / "laptop", websocket), cassette, routed=routed)
    assert all(answer.startswith("The command printed:") and answer.endswith("hi") for answer in recorded)
    replayed, rc, summary, log = replay(session(tmp_path / "ci-runner", websocket), [cassette], "--match", "body")
    assert rc == 0 and replayed == recorded, log
    assert (summary["unmatched"], summary["unused"], summary["unconsumed"], summary["violations"]) == (0, 0, 0, 0), log


def test_two_recordings_of_the_same_session_diff_equal(tmp_path: Path) -> None:
    one, two = tmp_path / "one.mpk", tmp_path / "two.mpk"
    record(session(tmp_path / "first", False), one)
    record(session(tmp_path / "second", False), two)
    diff = subprocess.run([str(REC), "diff", str(one), str(two)], capture_output=True, text=True, timeout=60)
    assert diff.returncode == 0, diff.stdout[-3000:]
    masked = subprocess.run([str(REC), "diff", str(one), str(two), "--mask", "Hello"], capture_output=True, text=True,
                            timeout=60)
    assert masked.returncode == 0, masked.stdout[-3000:]
