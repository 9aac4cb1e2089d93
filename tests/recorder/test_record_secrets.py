"""A repository's own secrets through `rec record` end to end, and nothing scrubbed that is not secret.

A coding agent runs `cat .env`; the output goes back to the model as a `function_call_output`
and the model quotes it, streamed word by word. None of the credentials, nor a piece of one,
may reach the disk; a client sending them again still matches the recording.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from rec.cassette import HttpExchange, load_cassette
from replayer.server import ReplayServer
from tests.recorder.support import REC, on_disk, recording, records_on_disk
from tests.support.credentials import CREDENTIALS, ENV_FILE, PIECES
from tests.support.upstream import ECHO_CALL_ID, running_upstream

TOOLS: list[Any] = [{"type": "function", "name": "exec_command", "description": "run a command",
                     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]
APIM_KEY = "4f1c2b9e8d7a6f5e4d3c2b1a0f9e8d7c"


def agent_turns(client: OpenAI, stream: bool) -> None:
    """The agent asks, the model calls `cat .env`, the agent sends the file back, the model quotes it."""
    first: list[Any] = [{"role": "user", "content": "what is in my .env?"}]
    second = [*first, {"type": "function_call", "call_id": ECHO_CALL_ID, "name": "exec_command",
                       "arguments": json.dumps({"cmd": "cat .env"})},
              {"type": "function_call_output", "call_id": ECHO_CALL_ID, "output": f"Output:\n{ENV_FILE}"}]
    for given in (first, second):
        if stream:
            list(client.responses.create(model="gpt-test", input=given, tools=TOOLS, stream=True))
        else:
            client.responses.create(model="gpt-test", input=given, tools=TOOLS)


def assert_no_credential(path: Path) -> None:
    stored = records_on_disk(path).decode("latin-1") + on_disk(path)
    for kind, value in CREDENTIALS.items():
        assert value not in stored and json.dumps(value)[1:-1] not in stored, kind
    for piece in PIECES:
        assert piece not in stored, piece


@pytest.mark.slow
@pytest.mark.parametrize("stream", [True, False], ids=["sse", "json"])
def test_a_dotenv_an_agent_reads_leaves_no_credential_on_disk_and_replays_in_body_mode(
        tmp_path: Path, stream: bool) -> None:
    path = tmp_path / "env.mpk"
    with running_upstream() as upstream, recording(upstream.url, path) as recorder:
        agent_turns(OpenAI(base_url=recorder.url, api_key="sk-test-0123456789abcdef", max_retries=0), stream)
    assert_no_credential(path)
    quoted = load_cassette(path).exchanges[1]
    assert isinstance(quoted, HttpExchange) and quoted.response is not None
    body = quoted.response.body.decode()
    assert "AWS_ACCESS_KEY_ID=[REDACTED]" in body and "DEBUG=true" in body
    assert "status.api.openai.com" in body  # prose around the secrets is kept
    # The agent runs again against the recording, reading the same .env: its requests match.
    with ReplayServer.from_cassettes([path], match="body") as server:
        agent_turns(OpenAI(base_url=server.url, api_key="x", max_retries=0), stream)
        report = server.report
    assert (report.served, report.unmatched, report.violations, report.drifted) == (2, 0, 0, 0), \
        [event.message for event in report.events]


@pytest.mark.slow
def test_gateway_keys_a_reason_phrase_and_encoded_echoes_are_scrubbed(tmp_path: Path) -> None:
    slashed = "tok/" + "Q2hhbm5lbFNlY3JldDAxMjM0NTY3"  # a token with a slash, echoed `\/`-escaped
    reason = f"Forbidden for key {CREDENTIALS['Google API Key']}"
    with running_upstream(echo_secret=APIM_KEY, reason=reason) as upstream, \
            recording(upstream.url, tmp_path / "gw.mpk") as recorder:
        for headers in ({"Ocp-Apim-Subscription-Key": APIM_KEY}, {"x-goog-api-key": CREDENTIALS["Google API Key"]},
                        {"api-key": slashed}):
            request = urllib.request.Request(f"{recorder.url}/models", headers=headers)
            urllib.request.urlopen(request, timeout=10).read()
        # As a JSON encoder that escapes slashes writes it, and percent-encoded in a URL it quotes.
        escaped, quoted = slashed.replace("/", "\\/"), urllib.request.quote(slashed, safe="")
        echo = '{"model": "gpt-test", "input": "escaped ' + escaped + ' and in a link ?k=' + quoted + '"}'
        request = urllib.request.Request(f"{recorder.url}/responses", data=echo.encode(), method="POST",
                                         headers={"content-type": "application/json", "api-key": slashed})
        urllib.request.urlopen(request, timeout=10).read()
    stored = records_on_disk(tmp_path / "gw.mpk").decode("latin-1")
    for secret in (APIM_KEY, CREDENTIALS["Google API Key"], "Q2hhbm5lbFNlY3JldDAxMjM0NTY3"):
        assert secret not in stored, secret
    exchanges = load_cassette(tmp_path / "gw.mpk").exchanges
    assert exchanges[0].request.header("ocp-apim-subscription-key") == "[REDACTED]"
    assert exchanges[0].response is not None and exchanges[0].response.reason == "Forbidden for key [REDACTED]"
    assert b"your key is [REDACTED]" in exchanges[0].response.body


CF_BM = "Zk3xQ9vL2mN8pR4tW6yB1cE5gH7jK0aSdFgHjKlZxCvBnM-1700000000-1.0.1.1-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
HINT = "Qm9vdHN0cmFwU2Vzc2lvbjEyMzQ1Njc4"
EDGE_COOKIES = [
    ("Set-Cookie", f"__cf_bm={CF_BM}; path=/; expires=Thu, 01-Jan-2026 00:30:00 GMT; domain=.api.openai.com; "
                   "HttpOnly; Secure; SameSite=None"),
    ("Set-Cookie", f"session_hint={HINT}; Path=/v1/responses; HttpOnly"),
]


def cookie_turns(client: OpenAI) -> list[int]:
    statuses = []
    for text in ("hello", "is status.api.openai.com up? my base is https://api.openai.com/v1/responses"):
        raw = client.responses.with_raw_response.create(
            model="gpt-test", input=text, extra_headers={"Cookie": f"__cf_bm={CF_BM}; session_hint={HINT}"})
        statuses.append(raw.status_code)
    return statuses


@pytest.mark.slow
def test_cloudflare_cookies_hide_their_values_only_and_the_recording_replays(tmp_path: Path) -> None:
    path = tmp_path / "cf.mpk"
    with running_upstream(extra_headers=EDGE_COOKIES) as upstream, recording(upstream.url, path) as recorder:
        assert cookie_turns(OpenAI(base_url=recorder.url, api_key="sk-test-0123456789abcdef", max_retries=0)) \
            == [200, 200]
    stored = records_on_disk(path).decode("latin-1")
    assert CF_BM not in stored and HINT not in stored
    exchanges = load_cassette(path).exchanges
    assert [e.request.path for e in exchanges] == ["/v1/responses", "/v1/responses"]
    second = json.loads(exchanges[1].request.body)
    assert second["input"] == "is status.api.openai.com up? my base is https://api.openai.com/v1/responses"
    for match in ("sequence", "body"):
        with ReplayServer.from_cassettes([path], match=match) as server:
            assert cookie_turns(OpenAI(base_url=server.url, api_key="x", max_retries=0)) == [200, 200]


def test_rec_check_names_each_credential_of_an_old_cassette(tmp_path: Path) -> None:
    from rec.synth.scenario import Scenario
    from tests.check.support import message_stream

    path = tmp_path / "old.mpk"
    Scenario().sse_turn(message_stream("resp_1", ENV_FILE),
                        request={"input": [{"type": "function_call_output", "output": ENV_FILE}]}).write(path)
    result = subprocess.run([str(REC), "check", str(path), "--format", "json"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    findings = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "secrets"]
    assert len(findings) == len(CREDENTIALS), [f["message"] for f in findings]
    for kind in CREDENTIALS:
        [finding] = [f for f in findings if f"a credential: {kind} (" in f["message"]]
        assert finding["exchange"] == 0 and "the request body" in finding["message"]
        assert "the response body" in finding["message"]


@pytest.mark.slow
def test_a_dotenv_in_websocket_frames_both_ways_leaves_no_credential_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "ws.mpk"
    with running_upstream(echo_secret=ENV_FILE) as upstream, recording(upstream.url, path) as recorder:
        client = OpenAI(base_url=recorder.url, api_key="sk-test-0123456789abcdef", max_retries=0)
        with client.responses.connect() as connection:
            connection.response.create(model="gpt-test", input=[
                {"type": "function_call_output", "call_id": ECHO_CALL_ID, "output": ENV_FILE}])
            for event in connection:
                if event.type == "response.completed":
                    break
    assert_no_credential(path)
    assert b"AWS_ACCESS_KEY_ID=[REDACTED]" in records_on_disk(path)
