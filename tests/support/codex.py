"""Run the Codex CLI against a local server: a CODEX_HOME with a provider pointing at it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODEX = ROOT / "node_modules" / ".bin" / "codex"
# The env var that holds the bearer token for the local provider (any value works locally).
KEY_ENV = "REC_TEST_KEY"


@dataclass
class CodexRun:
    """What one `codex exec` printed and how it exited."""

    stdout: str
    stderr: str
    rc: int


def codex_available() -> bool:
    return CODEX.exists()


def write_codex_home(home: Path, base_url: str, *, supports_websockets: bool = False,
                     model: str = "gpt-5-codex") -> Path:
    """Write ``home/config.toml`` with a provider named ``local`` at ``base_url``; returns ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [
        f'model = "{model}"',
        'model_provider = "local"',
        "",
        "[model_providers.local]",
        'name = "local"',
        f'base_url = "{base_url}"',
        'wire_api = "responses"',
        f'env_key = "{KEY_ENV}"',
    ]
    if supports_websockets:
        lines.append("supports_websockets = true")
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    return home


def run_codex(home: Path, base_url: str, prompt: str, *, supports_websockets: bool = False,
              cwd: Path | None = None, timeout: float = 120.0, resume_last: bool = False) -> CodexRun:
    """Run `codex exec PROMPT` (or `codex exec resume --last PROMPT`, the next turn of the last session) with a
    fresh config for ``base_url``; a timeout kills it and reports rc -9."""
    write_codex_home(home, base_url, supports_websockets=supports_websockets)
    env = {**os.environ, "CODEX_HOME": str(home), KEY_ENV: "sk-rec-test", "NO_COLOR": "1"}
    resume = ["resume", "--last"] if resume_last else []
    command = [str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", *resume,
               prompt]
    try:
        done = subprocess.run(command, cwd=cwd or home, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        def text(value: bytes | str | None) -> str:
            return value.decode(errors="replace") if isinstance(value, bytes) else value or ""

        return CodexRun(stdout=text(err.stdout), stderr=text(err.stderr) + f"\n[timed out after {timeout} s]", rc=-9)
    return CodexRun(stdout=done.stdout, stderr=done.stderr, rc=done.returncode)
