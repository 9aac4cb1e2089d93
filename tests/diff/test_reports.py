"""`rec diff` as CI runs it: folders and git revisions, every format read back, the exit status by --fail-on."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.diff.sessions import Session

REC = Path(sys.executable).parent / "rec"
BASE = Session()
RENAMED = BASE.changed(run="b", calls=[("python", {"command": ["ls", "-a"]})])


def rec_diff(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REC), "diff", *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd)


def folders(tmp_path: Path, regression: bool = True) -> tuple[Path, Path]:
    """OLD and NEW: one cassette identical, one reworded, one with a renamed tool call, one on each side only."""
    old, new = tmp_path / "old", tmp_path / "new"
    for session, name in [(BASE, "same.mpk"), (BASE, "reworded.mpk"), (BASE, "sub/renamed.mpk"),
                          (BASE, "gone.mpk")]:
        session.write(old / name)
    for session, name in [(BASE.changed(run="b"), "same.mpk"),
                          (BASE.changed(run="b", answer="Two files are here."), "reworded.mpk"),
                          (RENAMED if regression else BASE, "sub/renamed.mpk"), (BASE, "added.mpk")]:
        session.write(new / name)
    return old, new


def test_two_folders_paired_by_relative_path_as_json(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    result = rec_diff(old, new, "--format", "json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"] == {"identical": 1, "benign": 1, "requests_changed": 0, "regression": 1,
                                   "only_old": 1, "only_new": 1}
    pairs = {pair["path"]: pair for pair in document["pairs"]}
    assert {path: pair["verdict"] for path, pair in pairs.items()} == {
        "added.mpk": "only_new", "gone.mpk": "only_old", "reworded.mpk": "benign", "same.mpk": "identical",
        "sub/renamed.mpk": "regression"}
    assert [r["message"] for r in pairs["sub/renamed.mpk"]["reasons"]] == [
        "exchange #0: tool call 1 renamed shell → python",
        "exchange #1: request differs only where it echoes earlier answers"]
    assert pairs["sub/renamed.mpk"]["reasons"][0] == {
        "rule": "tool_call_renamed", "level": "regression", "exchange": 0, "new_exchange": 0, "turn": None,
        "message": "exchange #0: tool call 1 renamed shell → python"}
    assert pairs["same.mpk"]["reasons"] == [] and pairs["gone.mpk"]["reasons"][0]["message"] == "only in OLD"
    assert (pairs["gone.mpk"]["old"], pairs["gone.mpk"]["new"]) == (f"{old}/gone.mpk", None)
    # Each side's totals: four cassettes of 3,688 tokens (1,200 + 40, 1,200 + 8, 1,200 + 40).
    for side in ("old", "new"):
        totals = document["usage"][side]
        assert (totals["input_tokens"], totals["output_tokens"], totals["total_tokens"]) == (4 * 3600, 4 * 88, 4 * 3688)
    assert document["usage"]["delta"]["total_tokens"] == 0
    renamed = pairs["sub/renamed.mpk"]
    assert renamed["usage"]["old"]["total_tokens"] == 3688 and renamed["summary"]["changed"] == 2
    assert [row["verdict"] for row in renamed["exchanges"]] == ["regression", "benign", "identical", "identical"]
    assert renamed["exchanges"][0]["usage"]["new"]["cached_tokens"] == 1000


@pytest.mark.parametrize(("fail_on", "with_regression", "status"), [
    ("any", False, 1), ("regression", False, 0), ("requests_changed", False, 1), ("regression", True, 1)])
def test_the_exit_status_follows_fail_on(tmp_path: Path, fail_on: str, with_regression: bool, status: int) -> None:
    old, new = folders(tmp_path, regression=with_regression)
    result = rec_diff(old, new, "--fail-on", fail_on)
    assert result.returncode == status, result.stdout + result.stderr


def test_text_lists_what_matters_first(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    lines = rec_diff(old, new).stdout.splitlines()
    assert lines[0] == (f"rec diff: {old} vs {new}: 5 cassette(s): 1 regression, 0 requests changed, "
                        "1 only in OLD, 1 only in NEW, 1 benign, 1 identical")
    verdicts = [line.split()[0] for line in lines[2:] if not line.startswith(" ")]
    assert verdicts == ["REGRESSION", "ONLY_OLD", "ONLY_NEW", "BENIGN"]
    assert "  exchange #0: tool call 1 renamed shell → python" in lines


def test_markdown_for_a_job_summary(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    text = rec_diff(old, new, "--format", "markdown", "--fail-on", "regression").stdout
    lines = text.splitlines()
    assert lines[0] == ("### ❌ rec diff: 1 regression, 0 requests changed, 1 only in OLD, 1 only in NEW, 1 benign, "
                        "1 identical")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("| `")]
    assert [(row[0], row[1].split()[-1]) for row in rows] == [
        ("`sub/renamed.mpk`", "regression"), ("`gone.mpk`", "only_old"), ("`added.mpk`", "only_new"),
        ("`reworded.mpk`", "benign")]
    assert rows[3][2:5] == ["3,688", "3,688", "+0"]
    regressions = text.index("#### ❌ Regressions (1)")
    assert text.index("- exchange \\#0: tool call 1 renamed shell → python") > regressions
    benign = text[text.index("<details><summary>🟢 Benign changes (1)</summary>"):]
    assert "**`reworded.mpk`**" in benign and "answer text changed" in benign.split("</details>")[0]
    assert "<summary>⚪ Identical (1)</summary>" in text


def test_junit_has_one_case_per_pair_and_fails_those_at_the_level(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    for fail_on, failing in [("regression", {"sub/renamed.mpk"}),
                             ("any", {"sub/renamed.mpk", "reworded.mpk", "gone.mpk", "added.mpk"})]:
        result = rec_diff(old, new, "--format", "junit", "--fail-on", fail_on)
        root = ET.fromstring(result.stdout)
        suite = root.find("testsuite")
        assert suite is not None
        cases = {case.get("name"): case for case in suite.iter("testcase")}
        assert set(cases) == {"same.mpk", "reworded.mpk", "sub/renamed.mpk", "gone.mpk", "added.mpk"}
        assert {name for name, case in cases.items() if case.find("failure") is not None} == failing
        assert (root.get("tests"), root.get("failures"), suite.get("failures")) == ("5", str(len(failing)),
                                                                                    str(len(failing)))
    failure = cases["sub/renamed.mpk"].find("failure")
    assert failure is not None and failure.get("type") == "regression"
    assert failure.get("message") == "regression: exchange #0: tool call 1 renamed shell → python"
    assert "exchange #1: request differs only where it echoes earlier answers" in (failure.text or "")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=rec@example.com", "-c", "user.name=rec", *args], cwd=repo, check=True,
                   capture_output=True)


def test_git_compares_the_work_tree_with_a_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    BASE.write(repo / "cassettes" / "agent.mpk")
    BASE.write(repo / "cassettes" / "nested" / "chat.mpk")
    BASE.write(repo / "other" / "elsewhere.mpk")
    (repo / ".gitignore").write_text("cassettes/venv/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "recorded")
    git(repo, "checkout", "-q", "-b", "rerecord")
    RENAMED.write(repo / "cassettes" / "agent.mpk")  # re-recorded, not committed
    BASE.changed(run="c").write(repo / "cassettes" / "nested" / "chat.mpk")
    BASE.write(repo / "cassettes" / "new.mpk")  # untracked
    BASE.write(repo / "cassettes" / "venv" / "site.mpk")  # ignored: not the project's
    result = rec_diff("--git", "main", "cassettes", "--format", "json", cwd=repo)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["old"], document["new"]) == ("main", "working tree")
    assert {p["path"]: (p["verdict"], p["old"], p["new"]) for p in document["pairs"]} == {
        "cassettes/agent.mpk": ("regression", "main:cassettes/agent.mpk", "cassettes/agent.mpk"),
        "cassettes/nested/chat.mpk": ("identical", "main:cassettes/nested/chat.mpk", "cassettes/nested/chat.mpk"),
        "cassettes/new.mpk": ("only_new", None, "cassettes/new.mpk")}
    # From a subfolder, with no PATH: the cassettes under it, paths from the repository's top.
    nested = rec_diff("--git", "main", "--format", "json", cwd=repo / "cassettes" / "nested")
    assert [p["path"] for p in json.loads(nested.stdout)["pairs"]] == ["cassettes/nested/chat.mpk"]
    assert nested.returncode == 0
    # A cassette deleted from the work tree is only at the revision.
    (repo / "other" / "elsewhere.mpk").unlink()
    gone = rec_diff("--git", "main", "other", "--format", "json", cwd=repo)
    assert json.loads(gone.stdout)["summary"]["only_old"] == 1
    for args, message in [(["--git", "nope"], "--git nope: not a revision of this repository"),
                          (["--git", "main", "missing"], "missing: no cassette there, in the working tree or at main")]:
        bad = rec_diff(*args, cwd=repo)
        assert bad.returncode == 2 and bad.stderr == f"rec: error: {message}\n"
    outside = rec_diff("--git", "main", cwd=tmp_path)
    assert outside.returncode == 2 and outside.stderr.startswith("rec: error: git rev-parse: ")


def test_two_cassettes_keep_their_output_with_the_verdict_added(tmp_path: Path) -> None:
    old, new = BASE.write(tmp_path / "old.mpk"), RENAMED.write(tmp_path / "new.mpk")
    document = json.loads(rec_diff(old, new, "--format", "json").stdout)
    assert document["equal"] is False and document["summary"]["changed"] == 2
    assert document["verdict"] == "regression" and document["rec_diff"] == 1
    assert document["reasons"][0]["rule"] == "tool_call_renamed"
    assert document["usage"]["new"]["total_tokens"] == 3688
    text = rec_diff(old, new, "--fail-on", "regression")
    assert text.returncode == 1
    assert text.stdout.splitlines()[1:3] == ["verdict: regression", "  exchange #0: tool call 1 renamed shell → python"]
    junit = ET.fromstring(rec_diff(old, new, "--format", "junit").stdout)
    assert [case.get("name") for case in junit.iter("testcase")] == ["new.mpk"]
    benign = BASE.changed(run="b", answer="Two.").write(tmp_path / "benign.mpk")
    assert rec_diff(old, benign, "--fail-on", "regression").returncode == 0
    assert rec_diff(old, benign).returncode == 1


def test_help_says_the_default_level() -> None:
    result = subprocess.run([str(REC), "diff", "--help"], capture_output=True, text=True, timeout=30)
    assert "or regression. [default: any]" in " ".join(result.stdout.split())


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    old, new = folders(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "same.mpk").write_bytes(b"junk")
    for args, message in [
        ((old, old / "same.mpk"),
         f"{old} is a folder and {old / 'same.mpk'} is not: give two cassettes or two folders"),
        ((empty, empty), f"no cassettes (*.mpk) under {empty} or {empty}"),
        ((old, tmp_path / "nowhere"), f"{tmp_path / 'nowhere'}: no such file or folder"),
        ((old, tmp_path / "junk"), f"{tmp_path / 'junk'}/same.mpk: not a cassette"),
        ((old,), "give two cassettes or two folders to compare"),
    ]:
        result = rec_diff(*args)
        assert result.returncode == 2, result.stdout
        assert result.stderr.startswith(f"rec: error: {message}") and result.stderr.count("\n") == 1
    (tmp_path / "pyproject.toml").write_text('[tool.rec.diff]\nlevels = { renamed = "benign" }\n')
    unknown = rec_diff(old, new, cwd=tmp_path)
    assert unknown.returncode == 2 and "`diff.levels`: no rule named 'renamed'" in unknown.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.rec.diff]\nlevels = { wording = "fatal" }\n')
    assert "`diff.levels` must map rule names to benign" in rec_diff(old, new, cwd=tmp_path).stderr
    (tmp_path / "pyproject.toml").write_text('[tool.rec.diff.prices]\ngpt-5 = { input = "cheap", output = 1 }\n')
    assert "`diff.prices.gpt-5.input` must be a number" in rec_diff(old, new, cwd=tmp_path).stderr


def test_settings_tune_levels_and_prices(tmp_path: Path) -> None:
    folders(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.rec.diff]\nlevels = { tool_call_renamed = "benign" }\n'
        '[tool.rec.diff.prices]\n"gpt-5" = { input = 1.25, cached_input = 0.125, output = 10.0 }\n')
    result = rec_diff("old", "new", "--format", "json", "--fail-on", "regression", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["summary"]["regression"] == 0 and document["summary"]["benign"] == 2
    assert document["usage"]["old"]["cost"] == pytest.approx(4 * (3 * 200 * 1.25 + 3 * 1000 * 0.125 + 88 * 10) / 1e6)
    assert "; cost $" in rec_diff("old", "new", cwd=tmp_path).stdout
