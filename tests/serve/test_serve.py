"""`rec serve` as a process, driven over HTTP as a test in any language would, with the openai SDK as client."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import pytest
from openai import ConflictError, OpenAI

from rec.synth.events import (
    ev_assistant_message,
    ev_completed,
    ev_message_item_added,
    ev_output_text_delta,
    ev_response_created,
)
from rec.synth.scenario import Scenario
from replayer.serve_client import RecServe, ServeError, ServeProcess

ROOT = Path(__file__).resolve().parents[2]


def answer_events(response_id: str, text: str) -> list[dict]:
    return [ev_response_created(response_id), {**ev_message_item_added("m", ""), "output_index": 0},
            {**ev_output_text_delta(text), "item_id": "m", "output_index": 0},
            {**ev_assistant_message("m", text), "output_index": 0}, ev_completed(response_id)]


def prompts_cassette(path: Path, prefix: str, count: int) -> Path:
    """A cassette of ``count`` prompts `<prefix> N` answered `<prefix> answer N`, and one WebSocket turn."""
    scenario = Scenario()
    for n in range(count):
        scenario.sse_turn(answer_events(f"resp_{prefix}{n}", f"{prefix} answer {n}"),
                          request={"model": "gpt-test", "input": f"{prefix} {n}", "stream": True})
    scenario.websocket([({"type": "response.create", "model": "gpt-test", "input": f"{prefix} ws"},
                         answer_events(f"resp_{prefix}_ws", f"{prefix} over the socket"))], deflate=False)
    scenario.write(path)
    return path


def ask(base_url: str, prompt: str) -> str:
    client = OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    with client.responses.create(model="gpt-test", input=prompt, stream=True) as stream:
        return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    with ServeProcess("--root", str(tmp_path)) as running:
        yield running


def test_two_sessions_serve_concurrent_clients_each_their_own(serve: ServeProcess, tmp_path: Path) -> None:
    alpha = serve.create_session(cassettes=[str(prompts_cassette(tmp_path / "alpha.mpk", "alpha", 4))], match="body")
    beta = serve.create_session(cassettes=[str(prompts_cassette(tmp_path / "beta.mpk", "beta", 4))], match="body")
    jobs = [(session.base_url, f"{name} {n}") for n in range(4) for session, name in ((alpha, "alpha"), (beta, "beta"))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda job: ask(*job), jobs))
    assert answers == [prompt.replace(" ", " answer ") for _, prompt in jobs]

    with OpenAI(base_url=alpha.base_url, api_key="sk-test").responses.connect() as connection:
        connection.response.create(model="gpt-test", input="alpha ws")
        text = ""
        for event in connection:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.completed":
                break
    assert text == "alpha over the socket"

    with pytest.raises(ConflictError):
        ask(alpha.base_url, "beta 0")  # only the other session holds it
    assert alpha.report()["summary"]["unmatched"] == 1
    assert beta.report()["summary"]["unmatched"] == 0

    journal = beta.requests()
    assert sorted(r["body"]["input"] for r in journal["requests"]) == [f"beta {n}" for n in range(4)]
    assert all("authorization" not in r["headers"] for r in journal["requests"])
    final = beta.delete()
    assert final["rec_report"] == 1 and final["summary"]["served"] == 4
    assert [e["route"] for e in final["events"] if e["kind"] == "unused"] == ["GET /v1/responses"]
    with pytest.raises(ServeError) as gone:
        beta.report()
    assert gone.value.status == 404 and gone.value.code == "rec_unknown_session"


def test_a_session_from_a_scenario_needs_no_file(serve: ServeProcess) -> None:
    session = serve.create_session(scenario={"exchanges": [{"kind": "sse", "events": answer_events("r1", "hi"),
                                                            "request": {"model": "gpt-test", "input": "x"}}]})
    assert ask(session.base_url, "x") == "hi"


@pytest.mark.parametrize(("options", "code", "named"), [
    ({"cassettes": ["missing.mpk"]}, "rec_bad_cassette", "missing.mpk"),
    ({"cassettes": ["/etc/hostname"]}, "rec_path_not_allowed", "/etc/hostname"),
    ({"cassettes": [], "match": "fuzzy"}, "rec_bad_option", "fuzzy"),
    ({"cassettes": [], "timing": "later"}, "rec_bad_option", "later"),
    ({"cassettes": [], "faults": ["0:oops"]}, "rec_bad_option", "0:oops"),
    ({"cassettes": [], "colour": "red"}, "rec_bad_option", "colour"),
    ({"scenario": {"exchanges": [{"kind": "nope"}]}}, "rec_bad_scenario", "nope"),
])
def test_bad_session_requests_are_400s_naming_the_problem(serve: ServeProcess, tmp_path: Path, options: dict,
                                                          code: str, named: str) -> None:
    if options.get("cassettes") == ["missing.mpk"]:
        options = {"cassettes": [str(tmp_path / "missing.mpk")]}
    with pytest.raises(ServeError) as refused:
        serve.create_session(**options)
    assert refused.value.status == 400 and refused.value.code == code and named in refused.value.message


def test_a_symlink_out_of_the_roots_is_refused(serve: ServeProcess, tmp_path: Path) -> None:
    (tmp_path / "sneaky.mpk").symlink_to("/etc/hostname")
    with pytest.raises(ServeError, match="outside the allowed roots"):
        serve.create_session(cassettes=[str(tmp_path / "sneaky.mpk")])


def test_unknown_routes_and_bodies_that_are_not_json(serve: ServeProcess) -> None:
    import urllib.error
    import urllib.request

    for method, path, body, status in [("GET", "/s/nobody/v1/models", None, 404), ("GET", "/elsewhere", None, 404),
                                       ("POST", "/__rec/sessions", b"{not json", 400)]:
        request = urllib.request.Request(serve.url + path, data=body, method=method,
                                         headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        assert answer.value.code == status
        assert json.loads(answer.value.read())["error"]["message"]
    assert serve.health()["status"] == "ok"


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    """The lines of ``stream`` as they come, read on a thread of their own (a test waits with a bound)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_an_idle_session_is_reaped(tmp_path: Path) -> None:
    cassette = prompts_cassette(tmp_path / "c.mpk", "c", 1)
    process = subprocess.Popen([sys.executable, "-m", "rec", "serve", "--root", str(tmp_path), "--idle-timeout", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        serve = RecServe(process.stdout.readline().strip())
        session = serve.create_session(cassettes=[str(cassette)])
        # Waited for as rec serve says it (a line on stderr), never for a fixed time.
        said = lines_of(process.stderr)
        while not said.get(timeout=60).startswith(f"rec serve: reaped session {session.id}: idle for 1 s"):
            pass
        with pytest.raises(ServeError, match="no session"):
            session.report()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_rec_serve_never_imports_mitmproxy() -> None:
    script = ("import sys; import rec.cli.serve, replayer.sessions; "
              "print(any(m.startswith('mitmproxy') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


@pytest.mark.slow
def test_the_node_example_drives_a_session_end_to_end() -> None:
    """examples/node-serve: node:test and the official Node SDK against `rec serve`, no Python in the test."""
    node = subprocess.run(["node", "--test", str(ROOT / "examples" / "node-serve")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "REC_COMMAND": f"{sys.executable} -m rec"})
    assert node.returncode == 0, node.stdout[-2000:] + node.stderr[-2000:]
    assert "# pass 1" in node.stdout
