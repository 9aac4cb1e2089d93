"""The `rec check` command: exit 0 clean, 1 with findings, 2 on an error; text, markdown and JSON; [tool.rec]."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rec.cassette import CassetteError
from rec.check import CheckOptions, check_paths
from rec.cli.check import Progress
from rec.synth.scenario import Scenario
from tests.check.support import OLD, message_stream, write_old

ROOT = Path(__file__).resolve().parents[2]


def run_rec(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rec", *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A clean cassette and one whose only stream has no terminal event, in a nested folder."""
    (tmp_path / "deep").mkdir()
    Scenario().sse_turn(message_stream("r1", "fine")).write(tmp_path / "clean.mpk")
    Scenario().models([{"slug": "m"}]).sse_turn(message_stream("r2", "x")[:-1]).write(tmp_path / "deep" / "bad.mpk")
    return tmp_path


def test_exit_1_and_one_line_per_finding_in_text(folder: Path) -> None:
    assert run_rec("check", folder / "clean.mpk").returncode == 0
    result = run_rec("check", folder)
    assert result.returncode == 1, result.stderr
    first, summary, largest = result.stdout.splitlines()
    assert first.startswith(f"{folder / 'deep' / 'bad.mpk'} #1: streams: SSE answer: one_terminal: no terminal event")
    assert summary.startswith("rec check: 2 cassette(s), ") and summary.endswith("; 1 finding(s)")
    assert largest.startswith("largest: ")


def test_json_and_markdown(folder: Path) -> None:
    document = json.loads(run_rec("check", folder, "--format", "json").stdout)
    assert document["clean"] is False and [(f["rule"], f["exchange"]) for f in document["findings"]] == [
        ("streams", 1)]
    assert document["total_bytes"] == sum(document["sizes"].values()) > 0
    markdown = run_rec("check", folder, "--format", "markdown").stdout
    assert markdown.startswith("### ❌ rec check: 2 cassette(s)")
    assert f"| `{folder / 'deep' / 'bad.mpk'}` | 1 | streams |" in markdown


def test_max_age_and_on_expiry_come_from_tool_rec_and_the_flags_win(tmp_path: Path) -> None:
    write_old(tmp_path / "old.mpk", Scenario().sse_turn(message_stream("r", "x")), OLD)
    (tmp_path / "pyproject.toml").write_text('[tool.rec]\nmax_age = "90d"\non_expiry = "fail"\n')
    failed = run_rec("check", "old.mpk", cwd=tmp_path)
    assert failed.returncode == 1 and "old.mpk: stale: recorded 2020-01-01" in failed.stdout
    warned = run_rec("check", "old.mpk", "--on-expiry", "warn", cwd=tmp_path)
    assert warned.returncode == 0 and "stale (warning)" in warned.stdout
    assert run_rec("check", "old.mpk", "--max-age", "10000w", cwd=tmp_path).stdout.endswith("0 finding(s)\n")


def test_redact_rules_are_the_recorders(folder: Path) -> None:
    Scenario().sse_turn(message_stream("r", "ticket ACME-1234")).write(folder / "clean.mpk")
    result = run_rec("check", folder / "clean.mpk", "--redact", "regex:ACME-[0-9]+")
    assert result.returncode == 1 and "a credential: a match of a --redact regex (ACME-12…" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nowhere"], "nowhere: no such file or folder"),
    (["README.md"], "README.md: not a cassette"),
    (["clean.mpk", "--max-age", "3x"], "--max-age: max_age '3x' is not a duration"),
    (["clean.mpk", "--on-expiry", "explode"], "--on-expiry: on_expiry 'explode' is not one of warn, fail, rerecord"),
    (["clean.mpk", "--redact", "json:"], "--redact: redaction rule 'json:' must be"),
    (["clean.mpk", "--redact", "regex:("], "bad regular expression"),
])
def test_errors_are_one_line_and_exit_2(folder: Path, args: list[str], message: str) -> None:
    (folder / "README.md").write_text("# not a cassette\n")
    result = run_rec("check", *args, cwd=folder)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("rec: error: ") and message in result.stderr and result.stderr.count("\n") == 1


def test_a_bad_setting_names_the_file(tmp_path: Path) -> None:
    Scenario().sse_turn(message_stream("r", "x")).write(tmp_path / "c.mpk")
    (tmp_path / "pyproject.toml").write_text('[tool.rec]\nmax_age = "soon"\n')
    result = run_rec("check", "c.mpk", cwd=tmp_path)
    assert result.returncode == 2 and f"{tmp_path / 'pyproject.toml'}: `max_age`: max_age 'soon'" in result.stderr


def test_many_cassettes_are_checked_in_parallel_with_findings_in_cassette_order(tmp_path: Path) -> None:
    for n in range(80):
        events = message_stream(f"r{n}", "fine")
        Scenario().sse_turn(events if n % 20 else events[:-1]).write(tmp_path / f"c{n:02d}.mpk")
    parallel = check_paths([tmp_path], CheckOptions(), workers=2)
    alone = check_paths([tmp_path], CheckOptions())
    assert parallel == alone
    assert [f.cassette for f in parallel.findings] == [str(tmp_path / f"c{n:02d}.mpk") for n in (0, 20, 40, 60)]
    with pytest.raises(CassetteError, match="not a cassette"):
        (tmp_path / "c50.mpk").write_bytes(b"not a cassette")
        check_paths([tmp_path], CheckOptions(), workers=2)


def test_progress_shows_on_a_terminal_only_and_is_taken_off() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(stream)
        progress._started -= 2  # a run already past its first second
        for done in range(1, 4):
            progress(done, 3)
        progress.clear()
    assert terminal.getvalue().startswith("\rrec check: ") and "3/3 cassettes" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\033[K") and log.getvalue() == ""
