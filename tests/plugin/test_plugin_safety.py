"""Nothing lost, advice safe to paste: the marker on its own, failures that say what to run, rewrites that keep the
old cassette until the new one is kept, parallel workers and two recorders on one file; real inner pytest runs."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from rec.cassette import Header, load_cassette, write_cassette
from tests.plugin.support import AGENT_TEST, hello_cassette, write_source, write_test
from tests.recorder.support import REC, start_recorder
from tests.support.upstream import running_upstream

CASSETTE = Path("cassettes") / "test_demo" / "test_agent.mpk"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REC_MODE", "REC_UPSTREAM", "REC_COMMAND", "REC_RUN_STARTED"):
        monkeypatch.delenv(name, raising=False)


def recorded_from(path: Path, upstream: str) -> None:
    """Give a synthesized cassette the upstream a recording would name in its header."""
    write_cassette(path, Header(upstream=upstream), load_cassette(path).exchanges)


def test_the_marker_alone_replays_as_pytest_recordings_does(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    write_source(pytester, AGENT_TEST.format(marker="@pytest.mark.rec").replace("def test_agent(rec_server):",
                                                                                  "def test_agent():").replace(
        '    if rec_server.mode == "replay":\n        assert rec_server.log.single_request().body_json()["input"] == '
        '"say hello"\n', ""))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # without rec, the SDK would have had no key at all


def test_an_unused_exchange_says_how_to_record_again_from_the_cassettes_upstream(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE, turns=2)
    recorded_from(pytester.path / CASSETTE, "https://gateway.example.test")
    write_test(pytester)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*unused: POST /v1/responses exchange #1*",
        "*record again with pytest 'test_demo.py::test_agent' --rec-mode=rewrite "
        "--rec-upstream https://gateway.example.test*allow_unused=True*"])


def test_a_client_that_raised_on_a_refusal_shows_recs_report(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    write_source(pytester, AGENT_TEST.format(marker="").replace('answer = ask("say hello")',
                                                                'answer = ask("say hello") + ask("say hello")'))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*rec: replaying *test_agent.mpk, the test raised ConflictError*",
        "*unmatched: POST /v1/responses: no recorded answer*repeat=True*",
        "*the test made a request the cassette does not hold*--rec-mode=new_episodes*"])


@pytest.mark.slow
def test_rewrite_keeps_the_old_cassette_when_the_new_recording_fails(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = hello_cassette(pytester.path / CASSETTE).read_bytes()
    write_test(pytester)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with running_upstream() as upstream:
        down = upstream.url
    result = pytester.runpytest_subprocess("--rec-mode=rewrite", f"--rec-upstream={down}")  # nobody listens now
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the recording was not kept, and the cassette is unchanged*"])
    assert (pytester.path / CASSETTE).read_bytes() == before
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


PARALLEL_TESTS = '''
import pytest
from openai import OpenAI

@pytest.mark.rec("shared.mpk", match="body", allow_unused=True)  # each test asks one of them
@pytest.mark.parametrize("n", range(12))
def test_ask(n):
    with OpenAI(max_retries=0).responses.create(model="gpt-test", input=f"question {n}", stream=True) as stream:
        assert "".join(e.delta for e in stream if e.type == "response.output_text.delta")
'''


@pytest.mark.slow
def test_parallel_workers_appending_to_one_cassette_keep_every_exchange(pytester: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "shared.mpk")  # one exchange none of them asks for
    pytester.makepyfile(test_demo=PARALLEL_TESTS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with running_upstream() as upstream:
        result = pytester.runpytest_subprocess("-n", "4", "--rec-mode=new_episodes", f"--rec-upstream={upstream.url}")
        result.assert_outcomes(passed=12)
    cassette = pytester.path / "cassettes" / "test_demo" / "shared.mpk"
    inputs = [exchange.request.body for exchange in load_cassette(cassette).exchanges]
    assert len(inputs) == 13 and all(f'"question {n}"'.encode() in b"".join(inputs) for n in range(12))
    assert not [p.name for p in cassette.parent.iterdir() if p.name != "shared.mpk"]  # no partial, no lock left
    offline = pytester.runpytest_subprocess("-n", "2")  # the upstream is gone: only a replay can pass
    offline.assert_outcomes(passed=12)


@pytest.mark.slow
def test_a_second_recorder_on_the_same_file_is_refused_and_a_killed_one_blocks_nothing(tmp_path: Path) -> None:
    output = tmp_path / "same.mpk"
    with running_upstream() as upstream:
        first = start_recorder(upstream.url, output)
        second = subprocess.run([str(REC), "record", "--upstream", upstream.url, "-o", str(output)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert f"{output} is being written by process {first.process.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.communicate(timeout=10)
        third = start_recorder(upstream.url, output)  # the kernel let go of the killed one's lock
        rc, _, err = third.stop()
        assert rc == 0, err
