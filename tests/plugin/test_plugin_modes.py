"""The plugin in pytest-recording's terms: record modes, rec_config, marker checks, drift, poisoned
cassettes, --rec-block-network, max_age and orphans; real inner pytest runs with the openai SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from rec.cassette import load_cassette
from tests.plugin.support import AGENT_TEST, hello_cassette, write_source, write_test
from tests.support.upstream import running_upstream

CASSETTE = Path("cassettes") / "test_demo" / "test_agent.mpk"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REC_MODE", "REC_UPSTREAM", "REC_COMMAND"):
        monkeypatch.delenv(name, raising=False)


def test_a_misspelt_match_mode_and_an_unknown_key_are_named(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    write_test(pytester, '@pytest.mark.rec(match="bdy")')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown match mode 'bdy': use sequence or body*"])
    write_test(pytester, '@pytest.mark.rec(alow_unused=True)')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown setting 'alow_unused'*"])


def test_rec_config_merges_under_the_markers(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "shared.mpk", turns=2)
    pytester.makeconftest('''
        import pytest

        @pytest.fixture(scope="session")
        def rec_config():
            return {"cassettes": "shared.mpk", "allow_unused": True, "match": "sequence"}
    ''')
    write_test(pytester, '@pytest.mark.rec(match="body")')  # the marker's match wins; rec_config's cassette stays
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_changed_prompt_fails_once_showing_it_and_how_to_record_again(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    pytester.makepyfile(test_demo=AGENT_TEST.format(marker="").replace('ask("say hello")', 'ask("say hello!")')
                        .replace('== "say hello"', '== "say hello!"'))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)  # one failure, no teardown error on top
    result.stdout.fnmatch_lines(["*drift: POST /v1/responses exchange #0*first at `input`: recorded \"say hello\", "
                                 "received \"say hello!\"*",
                                 "*record again with pytest 'test_demo.py::test_agent' --rec-mode=rewrite "
                                 "--rec-upstream https://api.openai.com*"])
    write_test(pytester, "@pytest.mark.rec(allow_drift=True)")
    pytester.makepyfile(test_demo=AGENT_TEST.format(marker="@pytest.mark.rec(allow_drift=True)")
                        .replace('ask("say hello")', 'ask("say hello!")').replace('== "say hello"', '== "say hello!"'))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_block_network_fails_a_client_that_ignores_the_base_url(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    write_source(pytester, '''
        import socket
        from openai import OpenAI

        def test_agent(rec_server):
            with OpenAI(max_retries=0).responses.create(model="gpt-test", input="say hello", stream=True) as s:
                list(s)
            socket.create_connection(("203.0.113.9", 443), timeout=1)
    ''')
    result = pytester.runpytest_subprocess("--rec-block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tried to reach 203.0.113.9:443 while replaying*ignored OPENAI_BASE_URL*"])


def test_max_age_fails_or_warns_as_configured(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)  # its header says it was written now
    pytester.makefile(".toml", rec='max_age = "1d"\non_expiry = "fail"\n')
    write_test(pytester)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # written just now: not stale
    write_test(pytester, '@pytest.mark.rec(max_age="0s")')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*is older than max_age*--rec-mode=rewrite*"])
    write_test(pytester, '@pytest.mark.rec(max_age="0s", on_expiry="warn")')
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)


def test_orphan_cassettes_are_listed(pytester: pytest.Pytester) -> None:
    hello_cassette(pytester.path / CASSETTE)
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "test_gone.mpk")
    write_test(pytester)
    result = pytester.runpytest_subprocess("--rec-check-orphans")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*rec: orphan cassettes*", "*test_gone.mpk: no collected test uses it*"])
    assert "test_agent.mpk: no collected" not in result.stdout.str()


@pytest.mark.slow
def test_once_records_with_a_request_log_and_a_down_upstream_leaves_no_cassette(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    write_source(pytester, '''
        from openai import OpenAI

        def test_agent(rec_server):
            with OpenAI(max_retries=0).responses.create(model="gpt-test", input="say hello", stream=True) as s:
                list(s)
            assert rec_server.log.single_request().body_json()["input"] == "say hello"
    ''')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with running_upstream() as upstream:
        down = upstream.url
        pytester.runpytest_subprocess("--rec-mode=once", f"--rec-upstream={upstream.url}").assert_outcomes(passed=1)
    assert (pytester.path / CASSETTE).is_file()
    (pytester.path / CASSETTE).unlink()
    result = pytester.runpytest_subprocess("--rec-mode=once", f"--rec-upstream={down}")  # nobody listens now
    result.assert_outcomes(failed=1)
    assert not (pytester.path / CASSETTE).exists()
    assert "the recording was not kept, and the cassette is unchanged: every exchange failed to reach the " \
           "upstream" in result.stdout.str()


@pytest.mark.slow
def test_new_episodes_replays_what_matches_and_appends_the_rest(pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hello_cassette(pytester.path / CASSETTE)
    write_source(pytester, '''
        from openai import OpenAI

        def ask(text):
            with OpenAI(max_retries=0).responses.create(model="gpt-test", input=text, stream=True) as stream:
                return "".join(e.delta for e in stream if e.type == "response.output_text.delta")

        def test_agent(rec_server):
            assert ask("say hello") == "Hello from the cassette"
            assert ask("something new")
    ''')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with running_upstream() as upstream:
        result = pytester.runpytest_subprocess("--rec-mode=new_episodes", f"--rec-upstream={upstream.url}")
        result.assert_outcomes(passed=1)
        assert [r["body"]["input"] for r in upstream.requests] == ["something new"]  # the first was replayed
    exchanges = load_cassette(pytester.path / CASSETTE).exchanges
    assert len(exchanges) == 2
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # both now replay offline


def test_rec_serve_shares_one_server_across_tests(pytester: pytest.Pytester) -> None:
    from replayer.serve_client import ServeProcess

    hello_cassette(pytester.path / CASSETTE)
    hello_cassette(pytester.path / "cassettes" / "test_demo" / "test_agent_again.mpk")
    write_source(pytester, AGENT_TEST.format(marker="") + AGENT_TEST.format(marker="").replace(
        "def test_agent(", "def test_agent_again(").split("import pytest", 1)[1])
    with ServeProcess("--root", str(pytester.path)) as serve:
        result = pytester.runpytest_subprocess(f"--rec-serve={serve.url}")
        result.assert_outcomes(passed=2)
        assert serve.health()["sessions"] == 0  # each test's session ended with it
    write_test(pytester, '@pytest.mark.rec(allow_unused=False)')
    hello_cassette(pytester.path / CASSETTE, turns=2)
    with ServeProcess("--root", str(pytester.path)) as serve:
        result = pytester.runpytest_subprocess(f"--rec-serve={serve.url}", "-k", "test_agent")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*unused: POST /v1/responses exchange #1*"])
