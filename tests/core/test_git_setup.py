"""`rec git-setup`: git diff shows cassettes as JSON without rec on PATH, and never breaks when rec is gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rec.synth.events import ev_completed, ev_response_created
from rec.synth.scenario import Scenario

MINIMAL_PATH = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          capture_output=True, text=True, env=MINIMAL_PATH, check=True)


def cassette(path: Path, response_id: str) -> None:
    Scenario().sse_turn([ev_response_created(response_id), ev_completed(response_id)]).write(path)


def test_git_diff_shows_json_and_falls_back_when_rec_is_gone(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    cassette(tmp_path / "run.mpk", "resp_old")
    git(tmp_path, "add", "run.mpk")
    git(tmp_path, "commit", "-qm", "cassette")
    for _ in range(2):  # idempotent
        setup = subprocess.run([sys.executable, "-m", "rec", "git-setup", "--repo", str(tmp_path)],
                               capture_output=True, text=True)
        assert setup.returncode == 0, setup.stderr
    assert (tmp_path / ".gitattributes").read_text() == "*.mpk diff=rec-cassette\n"
    cassette(tmp_path / "run.mpk", "resp_new")
    diff = git(tmp_path, "diff").stdout
    assert "resp_old" in diff and "resp_new" in diff and "Binary files" not in diff
    textconv = git(tmp_path, "config", "--get", "diff.rec-cassette.textconv").stdout.strip()
    git(tmp_path, "config", "diff.rec-cassette.textconv", textconv.replace(sys.executable, "/gone/python"))
    git(tmp_path, "config", "diff.rec-cassette.cachetextconv", "false")
    fallback = git(tmp_path, "diff").stdout
    assert "(rec not found: run rec git-setup)" in fallback


def test_outside_a_repository_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rec", "git-setup", "--repo", str(tmp_path)], capture_output=True,
                            text=True, env={**MINIMAL_PATH, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.returncode == 2 and result.stderr.startswith("rec: error: ") and "not inside a git" in result.stderr
