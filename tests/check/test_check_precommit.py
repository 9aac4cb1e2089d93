"""`rec check` as a pre-commit hook: a real `pre-commit` run, in a temporary git repository, on staged cassettes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rec.synth.scenario import Scenario
from tests.check.support import message_stream
from tests.support.credentials import CREDENTIALS

ROOT = Path(__file__).parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.slow
def test_the_hook_refuses_a_staged_cassette_holding_a_credential_and_passes_a_clean_one(tmp_path: Path) -> None:
    assert shutil.which("git"), "the pre-commit test needs git"
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "dev")
    Scenario().sse_turn(message_stream("resp_1", "hello")).write(repo / "clean.mpk")
    Scenario().sse_turn(message_stream("resp_2", f"your key is {CREDENTIALS['Slack Token']}")).write(repo / "leak.mpk")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}

    def run_hook() -> subprocess.CompletedProcess[str]:
        # try-repo runs the hooks this repository declares (.pre-commit-hooks.yaml) as `pre-commit run` does,
        # installing rec from this working tree into pre-commit's own environment.
        return subprocess.run([str(PRE_COMMIT), "try-repo", str(ROOT), "rec-check"], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=600)

    git(repo, "add", "clean.mpk")
    passed = run_hook()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    git(repo, "add", "leak.mpk")
    refused = run_hook()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "leak.mpk #0: secrets: " in refused.stdout and "a credential: Slack Token (xoxb-12" in refused.stdout
    assert "clean.mpk #" not in refused.stdout
