"""A test suite's time under rec's pytest plugin next to pytest-recording + vcrpy, recording and replaying.

The same N tests, each one streamed ``responses.create`` through the openai SDK with a prompt of
its own, one cassette per test, in a fresh project: once under rec's plugin (`@pytest.mark.rec`)
and once under pytest-recording (`@pytest.mark.vcr`, vcrpy patching the SDK's HTTP client).
Each suite is recorded against the stand-in upstream (`--rec-mode=once` / `--record-mode=once`),
then replayed offline, serially and with `-n 2` (pytest-xdist); an N-test suite that makes no
call gives pytest's own cost, so the overhead per test is (suite - empty) / N. Tools are
interleaved round by round in one run; the ratios are what to quote.

rec runs as a user installs it: built into a wheel and installed in a folder of the run, ahead of the
development checkout on the path (pytest treats an installed plugin's modules differently from an
editable one's), with bytecode writing off as in many CI images (`PYTHONDONTWRITEBYTECODE`, both tools).

Needs pytest-recording and vcrpy, which rec does not depend on:
`.venv/bin/pip install pytest-recording vcrpy`, then `.venv/bin/python -m bench suite_bench [N]`
(building the wheel fetches rec's build backend from the package index, as pip does).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.upstream import running_upstream

ROUNDS = int(os.environ.get("REC_BENCH_ROUNDS", "3"))
DEFAULT_TESTS = 50

TEST_FILE = '''
import pytest
from openai import OpenAI

@pytest.mark.{marker}
@pytest.mark.parametrize("n", range({count}))
def test_ask(n):
    with OpenAI(max_retries=0).responses.create(model="gpt-test", input=f"question {{n}}", stream=True) as stream:
        assert "".join(e.delta for e in stream if e.type == "response.output_text.delta")
'''
EMPTY_FILE = '''
import pytest

@pytest.mark.parametrize("n", range({count}))
def test_nothing(n):
    assert n >= 0
'''
TOOLS = {
    "rec": {"marker": "rec", "record": ["--rec-mode=once", "--rec-upstream={upstream}"], "replay": [],
            "plugins": ["-p", "no:recording"]},
    "pytest-recording": {"marker": "vcr", "record": ["--record-mode=once"], "replay": ["--record-mode=none"],
                         "plugins": ["-p", "no:rec"]},
}


def run_pytest(project: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system of pytest and its workers) of one run of the project (which must
    pass). CPU is what a busy machine inflates least; wall is what a user waits."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=project,
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"pytest failed in {project} ({' '.join(args)}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return elapsed, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime


def installed_as_a_wheel(site: Path) -> Path:
    """rec's wheel installed into ``site`` (no dependencies: the running environment has them)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(Path(__file__).resolve().parent.parent)], check=True)
    return site


def project_for(tool: str, count: int, root: Path) -> Path:
    project = root / tool
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    (project / "test_suite.py").write_text(TEST_FILE.format(marker=TOOLS[tool]["marker"], count=count))
    return project


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[2:] if argv is None else argv
    count = int(args[0]) if args else DEFAULT_TESTS
    timings: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="rec-suite-bench-") as folder, running_upstream() as upstream:
        root = Path(folder)
        site = installed_as_a_wheel(root / "site")
        base_env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTHONPATH": os.pathsep.join(filter(None, (str(site), os.environ.get("PYTHONPATH"))))}
        base_env.pop("OPENAI_BASE_URL", None)
        empty = root / "empty"
        empty.mkdir()
        (empty / "test_suite.py").write_text(EMPTY_FILE.format(count=count))
        for round_number in range(ROUNDS):
            timings.setdefault(("empty", "serial"), []).append(run_pytest(empty, ["-p", "no:recording"], base_env))
            timings.setdefault(("empty", "-n 2"), []).append(
                run_pytest(empty, ["-p", "no:recording", "-n", "2"], base_env))
            for tool, spec in TOOLS.items():
                project = project_for(tool, count, root)
                env = dict(base_env)
                if tool == "pytest-recording":
                    env["OPENAI_BASE_URL"] = f"{upstream.url}/v1"  # vcrpy records the client's own requests
                record = [arg.format(upstream=upstream.url) for arg in spec["record"]]
                timings.setdefault((tool, "record"), []).append(run_pytest(project, [*spec["plugins"], *record], env))
                # vcrpy matches on the URL recorded, so its replay keeps the base URL (record mode none: it never
                # connects); rec's replay gives the client a base URL of its own.
                for label, extra in (("serial", []), ("-n 2", ["-n", "2"])):
                    timings.setdefault((tool, label), []).append(
                        run_pytest(project, [*spec["plugins"], *spec["replay"], *extra], env))
            print(f"round {round_number + 1}/{ROUNDS} done", file=sys.stderr, flush=True)
    report(timings, count)


def report(timings: dict[tuple[str, str], list[tuple[float, float]]], count: int) -> None:
    """Medians of wall and CPU seconds, and the median of each round's rec / pytest-recording ratio."""
    def median(key: tuple[str, str], measure: int) -> float:
        return statistics.median(run[measure] for run in timings[key])

    def ratio(phase: str, measure: int) -> float:
        return statistics.median(rec[measure] / vcr[measure] for rec, vcr in
                                 zip(timings[("rec", phase)], timings[("pytest-recording", phase)], strict=True))

    print(f"{count} tests, one streamed responses.create each; {ROUNDS} interleaved rounds: medians, and the median "
          "of the rounds' ratios")
    print(f"{'':10} {'rec wall':>9} {'p-r wall':>9} {'ratio':>7}   {'rec CPU':>8} {'p-r CPU':>8} {'ratio':>7}")
    for phase in ("record", "serial", "-n 2"):
        rec, vcr = ("rec", phase), ("pytest-recording", phase)
        print(f"{phase:10} {median(rec, 0):9.2f} {median(vcr, 0):9.2f} {ratio(phase, 0):6.2f}x   "
              f"{median(rec, 1):8.2f} {median(vcr, 1):8.2f} {ratio(phase, 1):6.2f}x")
    for phase in ("serial", "-n 2"):
        empty = median(("empty", phase), 0)
        per_test = {tool: (median((tool, phase), 0) - empty) / count * 1000 for tool in ("rec", "pytest-recording")}
        print(f"overhead per test, replaying {phase}: rec {per_test['rec']:.1f} ms, pytest-recording "
              f"{per_test['pytest-recording']:.1f} ms (empty suite {empty:.2f} s)")


if __name__ == "__main__":
    main()
