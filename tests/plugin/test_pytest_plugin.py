"""rec's pytest plugin in real inner pytest runs (pytester, in a subprocess so the entry point loads).

The inner tests use the openai SDK with no base URL of their own: the plugin sets
OPENAI_BASE_URL. Record mode goes through the real recorder to the stand-in upstream.
"""

from __future__ import annotations

import pytest

from rec.synth.events import ev_assistant_message, ev_completed, ev_response_created, user_message_item
from rec.synth.scenario import Scenario
from tests.plugin.support import hello_cassette, write_source, write_test
from tests.support.upstream import running_upstream


@pytest.fixture(autouse=True)
def no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REC_MODE", "REC_UPSTREAM"):
        monkeypatch.delenv(name, raising=False)


def test_replay_serves_the_default_cassette(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "test_agent.mpk")
    write_test(pytester)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_replay_without_the_cassette_says_how_to_record(pytester: pytest.Pytester) -> None:
    write_test(pytester)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no cassette*test_agent.mpk; record it: pytest*--rec-mode=once*"])


def test_marker_names_the_cassette_and_options(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "shared.mpk", turns=2)
    write_test(pytester, '@pytest.mark.rec("shared.mpk", match="body", allow_unused=True)')
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_an_unused_exchange_fails_the_test(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "test_agent.mpk", turns=2)
    write_test(pytester)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rec: replaying*test_agent.mpk:", "*unused: POST /v1/responses exchange #1*"])


def test_a_violation_fails_the_test_with_the_replayers_message(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "test_agent.mpk")
    orphan = {"type": "function_call_output", "call_id": "call-ghost", "output": "?"}
    write_source(pytester, f'''
        import openai
        from openai import OpenAI
        def test_agent(rec_server):
            try:
                OpenAI(max_retries=0).responses.create(model="m", input=[{user_message_item("hi")!r}, {orphan!r}])
            except openai.BadRequestError:
                pass
            OpenAI(max_retries=0).responses.create(model="gpt-test", input="say hello", stream=True).close()
    ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*violation: POST /v1/responses*call-ghost*"])


EARLY_BREAK_TEST = '''
from openai import OpenAI
import pytest

{marker}
def test_agent(rec_server):
    with OpenAI(max_retries=0).responses.create(model="gpt-test", input="say hello", stream=True) as stream:
        for event in stream:
            break  # the test stops reading after the first event
'''


@pytest.mark.parametrize(("marker", "outcome"), [('@pytest.mark.rec(timing="recorded")', {"failed": 1}),
                                                 ('@pytest.mark.rec(timing="recorded", allow_unconsumed=True)',
                                                  {"passed": 1})])
def test_a_stream_left_unread_fails_the_test_unless_allowed(pytester: pytest.Pytester, marker: str,
                                                            outcome: dict[str, int]) -> None:
    # Paced over seconds, so the client leaves while the stream is still being sent.
    slow = [ev_response_created("r0"), *(ev_assistant_message(f"m{i}", "slow") for i in range(8)), ev_completed("r0")]
    scenario = Scenario().sse_turn(slow, request={"model": "gpt-test", "input": "say hello", "stream": True},
                                   delay_ms=300)
    path = pytester.path / "cassettes" / "test_demo" / "test_agent.mpk"
    path.parent.mkdir(parents=True)
    scenario.write(path)
    pytester.makepyfile(test_demo=EARLY_BREAK_TEST.format(marker=marker))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(**outcome)
    if "failed" in outcome:
        result.stdout.fnmatch_lines(["*unconsumed: POST /v1/responses exchange #0: the client*read streams*"])


@pytest.mark.slow
def test_record_then_replay_with_the_upstream_gone(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_test(pytester)
    cassette = pytester.path / "cassettes" / "test_demo" / "test_agent.mpk"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plugin-secret-0123456789")
    with running_upstream() as upstream:
        result = pytester.runpytest_subprocess("--rec-mode=all", f"--rec-upstream={upstream.url}")
        result.assert_outcomes(passed=1)
    assert cassette.is_file() and b"sk-plugin-secret" not in cassette.read_bytes()
    assert not list(cassette.parent.glob("*.partial")) and not list(cassette.parent.glob(".*.lock"))
    # The upstream is down now: only a replay can pass.
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.slow
def test_once_records_a_missing_cassette_and_replays_an_existing_one(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_test(pytester)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("REC_MODE", "once")
    with running_upstream() as upstream:
        monkeypatch.setenv("REC_UPSTREAM", upstream.url)
        pytester.runpytest_subprocess().assert_outcomes(passed=1)
        recorded = (pytester.path / "cassettes" / "test_demo" / "test_agent.mpk").read_bytes()
        assert len(upstream.requests) == 1
        pytester.runpytest_subprocess().assert_outcomes(passed=1)
        assert len(upstream.requests) == 1  # replayed: the upstream saw nothing new
    assert (pytester.path / "cassettes" / "test_demo" / "test_agent.mpk").read_bytes() == recorded


def test_rec_mock_verifies_at_teardown(pytester: pytest.Pytester) -> None:
    write_source(pytester, '''
        from openai import OpenAI
        from rec.synth.events import ev_completed, ev_response_created, sse
        from rec.testing.mock import mount_sse_sequence

        def test_short(rec_mock):
            mount_sse_sequence(rec_mock, [sse([ev_response_created("r1"), ev_completed("r1")])] * 2)
            client = OpenAI(base_url=rec_mock.url, api_key="k", max_retries=0)
            client.responses.create(model="m", input="hi", stream=True).close()
    ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*expected 2 request(s), got 1*"])


def test_a_bad_rec_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_test(pytester)
    result = pytester.runpytest_subprocess("--rec-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--rec-mode*invalid choice*"])


def test_project_settings_and_each_tests_ignore_apply_to_every_test(pytester: pytest.Pytester) -> None:
    """[tool.rec] is read once per run and each test's own `ignore` builds its own normalizer: a test that
    ignores the changed field passes, one that does not fails on the drift, whatever order they run in."""
    for name in ("test_changed", "test_changed_ignored", "test_project_ignored"):
        hello_cassette(pytester.path / "cassettes" / "test_demo" / f"{name}.mpk")
    pytester.makefile(".toml", pyproject='[tool.rec]\nignore = ["metadata"]\n')
    write_source(pytester, '''
        from openai import OpenAI
        import pytest

        def ask(**extra):
            with OpenAI(max_retries=0).responses.create(model="gpt-test", input="say hello", stream=True,
                                                        **extra) as stream:
                return "".join(e.delta for e in stream if e.type == "response.output_text.delta")

        @pytest.mark.rec
        def test_project_ignored():
            assert ask(metadata={"run": "7"})

        @pytest.mark.rec(ignore=["temperature"])
        def test_changed_ignored():
            assert ask(temperature=0.5, metadata={"run": "8"})

        @pytest.mark.rec
        def test_changed():
            assert ask(temperature=0.5)
        ''')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*drift: POST /v1/responses*first at `temperature`*", "FAILED *::test_changed - *"])
