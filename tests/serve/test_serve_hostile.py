"""`rec serve` against careless and hostile clients, in this process over real sockets: every option of every type
answered cleanly, web pages kept out, and one session never holding up or ending another."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec.redaction import DEFAULT_SECRET_HEADERS
from rec.synth.scenario import Scenario
from replayer.report import EVENTS_KEPT_PER_KIND
from replayer.request_log import KEPT
from replayer.runner import ThreadedRunner
from replayer.sessions import SessionHub
from tests.core.test_cassette_bounds import EXPANDING, bomb
from tests.serve.test_serve import answer_events

SCENARIO = {"exchanges": [{"kind": "sse", "events": answer_events("resp_1", "hi"),
                           "request": {"model": "gpt-test", "input": "hi"}}]}


class Control:
    """One keep-alive connection to a hub: the control API and the sessions' URLs."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        self.connection.request(method, path, body=data, headers={"content-type": "application/json",
                                                                 **(headers or {})})
        response = self.connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if "json" in (response.getheader("content-type") or "") else body

    def create(self, **options: Any) -> tuple[int, Any]:
        return self.call("POST", "/__rec/sessions", options)


@pytest.fixture
def runner() -> Iterator[ThreadedRunner]:
    """The event loop the hubs of a test run on, on a thread of its own."""
    running = ThreadedRunner("rec-serve-test")
    yield running
    running.stop()


@pytest.fixture
def start_hub(tmp_path: Path, runner: ThreadedRunner) -> Iterator[Callable[..., SessionHub]]:
    """start_hub(**options) -> a SessionHub listening on port 0 in this process (its root: tmp_path), stopped after."""
    started: list[SessionHub] = []

    def start(**options: Any) -> SessionHub:
        hub = SessionHub(roots=[tmp_path], **options)
        runner.run(hub.start)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        runner.run(hub.aclose)


@pytest.fixture
def hub(start_hub: Callable[..., SessionHub]) -> SessionHub:
    return start_hub()


# --- every option, every type ---------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["", "\0", "x" * 5000, "../../etc/passwd", "body", "recorded"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)
OPTIONS = ["cassettes", "scenario", "match", "timing", "repeat", "faults", "ignore", "mask", "validate"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(OPTIONS), value=json_values)
def test_any_value_of_any_option_is_created_or_a_400_naming_it_on_a_connection_that_stays_open(
        hub: SessionHub, option: str, value: Any) -> None:
    control = Control(hub.port)
    # Only the option under test can be wrong: the rest is a session that would be created.
    options = {option: value} if option in ("cassettes", "scenario") else {"scenario": SCENARIO, option: value}
    status, answer = control.create(**options)
    assert status in (201, 400), answer
    if status == 400:
        assert answer["error"]["param"] == option, answer
        assert "\n" not in answer["error"]["message"]
    assert control.call("GET", "/__rec/health")[0] == 200  # the same connection, still open


@pytest.mark.parametrize(("entry", "named"), [
    ({"status": "abc"}, "status"), ({"status": 99999}, "status"), ({"status": -5}, "status"),
    ({"headers": [["x-count", 1]]}, "headers"), ({"headers": [["x-a", "1\r\nx-injected: 1"]]}, "headers"),
    ({"headers": 5}, "headers"), ({"delay_ms": "soon"}, "chunks"), ({"events": "not a list"}, "events"),
])
def test_a_scenario_is_checked_as_a_recording_is(hub: SessionHub, entry: dict[str, Any], named: str) -> None:
    exchange = {"kind": "sse", "events": answer_events("resp_1", "hi"), **entry}
    status, answer = Control(hub.port).create(scenario={"exchanges": [exchange]})
    assert status == 400 and answer["error"]["code"] == "rec_bad_scenario" and answer["error"]["param"] == "scenario"
    assert named in answer["error"]["message"] and "exchanges[0]" in answer["error"]["message"]


@pytest.mark.parametrize("scenario", [None, [], "exchanges", {"exchanges": [{"kind": "websocket", "turns": [1]}]},
                                      {"exchanges": [{"kind": "websocket", "turns": [{"events": 1}]}]},
                                      {"name": ["deep"], "exchanges": []}])
def test_a_scenario_of_the_wrong_shape_is_a_400(hub: SessionHub, scenario: Any) -> None:
    status, answer = Control(hub.port).create(scenario=scenario)
    assert status == 400 and answer["error"]["param"] == "scenario"


def test_a_path_with_a_nul_or_too_long_is_a_400(hub: SessionHub) -> None:
    control = Control(hub.port)
    for path in ("a\0b.mpk", "x" * 5000, "y/" * 3000):
        status, answer = control.create(cassettes=[path])
        assert status == 400 and answer["error"]["param"] == "cassettes", answer


def test_a_cassette_built_to_expand_is_a_400_naming_its_field(hub: SessionHub, tmp_path: Path) -> None:
    bomb(tmp_path / "bomb.mpk", next(iter(EXPANDING)))
    status, answer = Control(hub.port).create(cassettes=["bomb.mpk"])
    assert status == 400 and answer["error"]["code"] == "rec_bad_cassette"
    assert "exchange #1" in answer["error"]["message"] and "`x`" in answer["error"]["message"]


def test_a_relative_cassette_path_is_looked_for_in_the_roots(hub: SessionHub, tmp_path: Path) -> None:
    Scenario().sse_turn(answer_events("resp_1", "hi")).write(tmp_path / "example.mpk")
    control = Control(hub.port)
    assert control.create(cassettes=["example.mpk"])[0] == 201
    status, answer = control.create(cassettes=["../example.mpk"])
    assert status == 400 and answer["error"]["code"] in ("rec_path_not_allowed", "rec_bad_cassette")


# --- the journal and web pages ----------------------------------------------------------------


def test_the_journal_hides_every_credential_header_the_recorder_redacts(hub: SessionHub) -> None:
    control = Control(hub.port)
    session = control.create(scenario=SCENARIO)[1]
    secrets = {name: f"secret-{n}" for n, name in enumerate(sorted(DEFAULT_SECRET_HEADERS))}
    path = session["base_url"].split(str(hub.port), 1)[1] + "/responses"
    assert control.call("POST", path, {"model": "gpt-test", "input": "hi"}, {**secrets, "x-kept": "yes"})[0] == 200
    [request] = control.call("GET", f"/__rec/sessions/{session['id']}/requests")[1]["requests"]
    assert request["headers"]["x-kept"] == "yes"
    assert not set(request["headers"]) & set(secrets)
    assert not any(value.startswith("secret-") for value in request["headers"].values())


def test_a_long_sessions_journal_keeps_the_newest_requests_and_counts_the_rest(hub: SessionHub) -> None:
    control = Control(hub.port)
    session = control.create(scenario=SCENARIO, repeat=True)[1]
    path = session["base_url"].split(str(hub.port), 1)[1] + "/responses"
    for n in range(KEPT + 2):
        assert control.call("POST", path, {"model": "gpt-test", "input": f"hi {n}"})[0] == 200
    status, document = control.call("GET", f"/__rec/sessions/{session['id']}/requests")
    assert status == 200
    assert len(document["requests"]) == KEPT
    assert [r["body"]["input"] for r in document["requests"][-2:]] == [f"hi {KEPT}", f"hi {KEPT + 1}"]
    assert document["omitted"] == {"requests": 2}


def test_a_web_page_cannot_drive_the_control_api(hub: SessionHub) -> None:
    control = Control(hub.port)
    # A page may POST text/plain anywhere without asking first: refused, and nothing is created.
    status, answer = control.call("POST", "/__rec/sessions", json.dumps({"scenario": SCENARIO}).encode(),
                                  {"content-type": "text/plain"})
    assert status == 415 and answer["error"]["code"] == "rec_bad_request"
    status, answer = control.call("POST", "/__rec/sessions", {"scenario": SCENARIO}, {"origin": "http://evil.example"})
    assert status == 403 and answer["error"]["code"] == "rec_cross_site"
    # A page whose name was pointed at 127.0.0.1 (DNS rebinding) sends its own name as Host.
    status, _ = control.call("GET", "/__rec/sessions", headers={"host": f"evil.example:{hub.port}"})
    assert status == 403
    assert hub.sessions == {}
    # A page on this machine (a dev server), and clients that send no Origin, are served.
    local_page = {"origin": "http://localhost:3000"}
    assert control.call("POST", "/__rec/sessions", {"scenario": SCENARIO}, local_page)[0] == 201
    assert control.call("GET", "/__rec/sessions", headers={"host": f"localhost:{hub.port}"})[0] == 200


def test_an_ipv6_server_says_its_url_with_brackets(start_hub: Callable[..., SessionHub]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        six = start_hub(host="::1")
    except OSError:
        pytest.skip("::1 cannot be listened on here")
    assert six.url == f"http://[::1]:{six.port}"
    control = Control(six.port, host="::1")
    status, session = control.create(scenario=SCENARIO)
    assert status == 201 and session["base_url"].startswith(f"http://[::1]:{six.port}/s/")


# --- one session never hurts another ---------------------------------------------------------


def test_unused_events_are_capped_with_a_count_of_the_rest(hub: SessionHub) -> None:
    exchanges = [{"kind": "json", "body": {"n": n}, "path": f"/v1/things/{n}", "method": "GET"} for n in range(250)]
    control = Control(hub.port)
    session = control.create(scenario={"exchanges": exchanges})[1]
    for report in (control.call("GET", f"/__rec/sessions/{session['id']}/report")[1],
                   control.call("DELETE", f"/__rec/sessions/{session['id']}")[1]):
        assert report["summary"]["unused"] == 250
        assert sum(event["kind"] == "unused" for event in report["events"]) == EVENTS_KEPT_PER_KIND
        assert report["omitted"]["unused"] == 250 - EVENTS_KEPT_PER_KIND


def test_a_mask_that_backtracks_cannot_stall_the_server(hub: SessionHub) -> None:
    control = Control(hub.port)
    session = control.create(scenario=SCENARIO, mask=["(a+)+$"], match="body")[1]
    path = session["base_url"].split(str(hub.port), 1)[1] + "/responses"
    # 2^40 ways to split the a's: a backtracking engine would take hours, RE2 takes one pass.
    status, _ = control.call("POST", path, {"model": "gpt-test", "input": "a" * 40 + "!"})
    assert status in (200, 409)
    assert control.call("GET", "/__rec/health")[0] == 200


def test_a_session_loading_waits_on_the_worker_while_the_others_are_answered(hub: SessionHub, tmp_path: Path,
                                                                             runner: ThreadedRunner) -> None:
    control = Control(hub.port)
    serving = control.create(scenario={"exchanges": [{"kind": "models", "models": [{"slug": "m"}]}]}, repeat=True)[1]
    Scenario().sse_turn(answer_events("resp_1", "hi")).write(tmp_path / "next.mpk")
    busy, created = threading.Event(), []
    # The worker is held, as a long load would hold it: a new session waits for it...
    runner.loop.call_soon_threadsafe(lambda: hub.spawn(hub.off_loop(busy.wait)))
    creating = threading.Thread(target=lambda: created.append(Control(hub.port).create(cassettes=["next.mpk"])),
                                daemon=True)
    creating.start()
    # ... while a session already running answers at once.
    path = serving["base_url"].split(str(hub.port), 1)[1] + "/models"
    for _ in range(3):
        assert control.call("GET", path)[0] == 200
    assert created == []
    busy.set()
    creating.join(timeout=30)
    assert created[0][0] == 201


def open_websocket(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_session_in_use_is_never_reaped(start_hub: Callable[..., SessionHub]) -> None:
    said: queue.Queue[str] = queue.Queue()
    hub = start_hub(idle_timeout=2.0, emit=said.put)
    control = Control(hub.port)
    idle = control.create(scenario=SCENARIO)[1]
    socket_session = control.create(scenario={"exchanges": [{"kind": "websocket", "deflate": False, "turns": [
        {"request": {"type": "response.create", "model": "gpt-test", "input": "hi"},
         "events": answer_events("resp_ws", "hi")}]}]})[1]
    streaming = control.create(timing="recorded", scenario={"exchanges": [
        {"kind": "sse", "events": answer_events("resp_s", "hi"), "delay_ms": 60_000}]})[1]
    websocket = open_websocket(hub.port, f"/s/{socket_session['id']}/v1/responses")
    stream = socket.create_connection(("127.0.0.1", hub.port), timeout=30)
    body = json.dumps({"model": "gpt-test", "input": "hi", "stream": True})
    stream.sendall(f"POST /s/{streaming['id']}/v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Length: {len(body)}\r\ncontent-type: application/json\r\n\r\n{body}".encode())
    assert stream.recv(4096).startswith(b"HTTP/1.1 200")  # the first event; the next is a minute away
    # The idle session goes at its timeout (the hub says so); the two in use stay however long that takes.
    while not said.get(timeout=60).startswith(f"reaped session {idle['id']}"):
        pass
    assert idle["id"] not in hub.sessions
    assert socket_session["id"] in hub.sessions and streaming["id"] in hub.sessions
    stream.close()
    websocket.close()
    for session in (socket_session, streaming):
        status, report = control.call("DELETE", f"/__rec/sessions/{session['id']}")
        assert status == 200 and report["summary"]["served"] == 1, report


def test_a_control_handler_that_fails_is_a_500_on_a_connection_that_stays_open(hub: SessionHub,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import replayer.sessions

    control = Control(hub.port)
    session = control.create(scenario=SCENARIO)[1]

    def broken(log: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(replayer.sessions, "journal", broken)
    status, answer = control.call("GET", f"/__rec/sessions/{session['id']}/requests")
    assert status == 500 and answer["error"]["code"] == "rec_internal_error"
    assert "KeyError" in answer["error"]["message"]
    assert control.call("GET", "/__rec/health")[0] == 200
