"""Faults at a chosen event (--fault): what the openai SDK sees, and that its retry gets the recorded answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from replayer.faults import FaultSpecError, parse_fault
from replayer.server import ReplayServer
from tests.replayer.builders import json_exchange, request_body, sse_exchange, text_events, user_message, ws_exchange

REC = Path(sys.executable).parent / "rec"
EVENTS = text_events("resp_1", "hello there", deltas=4)  # created, added, 4 deltas, done, completed...


def stream_text(client: OpenAI) -> tuple[list[str], str]:
    """Event types and text of one streamed turn, however it ended."""
    types, text = [], []
    with client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True) as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                text.append(event.delta)
    return types, "".join(text)


def served(serve: Any, fault: str, *extra: Any, **options: Any) -> tuple[ReplayServer, OpenAI]:
    server = serve([sse_exchange(request_body([user_message("hi")]), EVENTS), *extra], faults=[fault], **options)
    return server, OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)


def fault_events(server: ReplayServer) -> list[str]:
    return [event.message for event in server.report.events if event.kind == "fault"]


def test_reset_after_k_events_then_the_retry_gets_the_recording(serve: Any) -> None:
    server, client = served(serve, "0:after-event=3:reset")
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError), \
            client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True) as stream:
        seen.extend(event.type for event in stream)
    assert len(seen) == 3
    types, text = stream_text(client)
    assert types[-1] == "response.completed" and text == "hello there"
    assert fault_events(server) == ["injected '0:after-event=3:reset' into exchange #0"]
    assert server.report.ok and server.report.served == 2


def test_close_ends_the_stream_before_response_completed(serve: Any) -> None:
    server, client = served(serve, "0:after-event=2:close")
    types, _ = stream_text(client)
    assert types == ["response.created", "response.output_item.added"]
    assert stream_text(client)[0][-1] == "response.completed"
    server.finish()
    assert server.report.unused_events() == []


def test_error_sends_response_failed_with_the_code(serve: Any) -> None:
    _, client = served(serve, "0:after-event=1:error=rate_limit_exceeded")
    with client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True) as stream:
        events = list(stream)
    assert [e.type for e in events] == ["response.created", "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "rate_limit_exceeded"
    assert failed.id == "resp_1"


def test_corrupt_sends_an_event_that_is_not_json(serve: Any) -> None:
    _, client = served(serve, "0:after-event=2:corrupt")
    with pytest.raises(json.JSONDecodeError):
        stream_text(client)


def test_stall_trips_a_client_timeout_and_the_retry_gets_the_recording(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), EVENTS)], faults=["0:after-event=2:stall=2000"])
    impatient = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        stream_text(impatient)
    assert stream_text(impatient)[1] == "hello there"


def test_stall_waited_out_uses_the_exchange(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), EVENTS)], faults=["0:after-event=2:stall=200"])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    assert stream_text(client)[1] == "hello there"
    server.finish()
    assert server.report.unused_events() == []


def test_times_and_star_fault_every_serve_until_spent(serve: Any) -> None:
    server, client = served(serve, "*:after-event=0:error=500:times=2")
    for _ in range(2):
        types, _ = stream_text(client)
        assert types == ["response.failed"]
    assert stream_text(client)[1] == "hello there"
    assert len(fault_events(server)) == 2


def test_an_error_on_a_json_answer_is_an_http_error_the_sdk_retries(serve: Any) -> None:
    models = json_exchange("GET", "/v1/models", {"object": "list", "data": []})
    server = serve([models], faults=["0:after-event=0:error=503"])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=1)
    assert list(client.models.list()) == []
    assert server.report.served == 2 and len(fault_events(server)) == 1


def ws_turns() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [({"type": "response.create", "model": "gpt-test", "input": [user_message("hi")]}, EVENTS)]


def read_turn(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "error"):
            break
    return events


def test_websocket_error_event_then_the_retry_on_the_same_connection(serve: Any) -> None:
    server = serve([ws_exchange(ws_turns())], faults=["0.0:after-event=2:error=server_is_overloaded"])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        first = read_turn(connection)
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        second = read_turn(connection)
    assert [e.type for e in first] == ["response.created", "response.output_item.added", "error"]
    assert first[-1].error.code == "server_is_overloaded"
    assert second[-1].type == "response.completed"
    assert server.report.ok


def test_websocket_reset_then_a_new_connection_replays_it(serve: Any) -> None:
    server = serve([ws_exchange(ws_turns())], faults=["0:after-event=1:reset"])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with pytest.raises(Exception), client.responses.connect() as connection:  # noqa: B017 (the SDK's close error)
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        read_turn(connection)
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        assert read_turn(connection)[-1].type == "response.completed"
    assert server.report.ok


def test_a_websocket_cut_at_a_later_turn_resumes_there_on_the_new_connection(serve: Any) -> None:
    second = text_events("resp_2", "second answer")
    turns = [*ws_turns(), ({"type": "response.create", "model": "gpt-test", "input": [user_message("more")]}, second)]
    server = serve([ws_exchange(turns)], faults=["0.1:after-event=1:close"])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("hi")])
        assert read_turn(connection)[-1].type == "response.completed"
        connection.response.create(model="gpt-test", input=[user_message("more")])
        cut = read_turn(connection)  # a clean close: the SDK's iteration just ends
    assert [e.type for e in cut] == ["response.created"]
    # The client retries the cut turn on a new connection: it gets that turn, not the first one.
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-test", input=[user_message("more")])
        events = read_turn(connection)
    assert events[-1].type == "response.completed" and events[-1].response.id == "resp_2"
    assert server.report.ok and not server.finish().unused_events()


@pytest.mark.parametrize(("spec", "complaint"), [
    ("0:reset", "expected EXCHANGE"),
    ("x:after-event=1:reset", "EXCHANGE (an index or *)"),
    ("0.y:after-event=1:reset", "TURN must be"),
    ("0:after=1:reset", "should be after-event=K"),
    ("0:after-event=-1:reset", "K in after-event=K"),
    ("0:after-event=1:explode", "unknown action 'explode'"),
    ("0:after-event=1:error", "unknown action 'error'"),
    ("0:after-event=1:stall=soon", "MS in stall=MS"),
    ("0:after-event=1:reset:twice", "should be times=N"),
])
def test_bad_fault_specs_name_the_bad_part(spec: str, complaint: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_fault(spec)
    assert complaint in str(caught.value) and repr(spec) in str(caught.value)


def test_a_fault_on_an_exchange_the_cassettes_lack_is_refused_at_load(tmp_path: Path) -> None:
    from tests.replayer.builders import write

    cassette = write(tmp_path / "one.mpk", [sse_exchange(request_body([]), EVENTS)])
    with pytest.raises(FaultSpecError, match=r"no exchange 3 \(the cassettes hold 1"):
        ReplayServer.from_cassettes([cassette], faults=["3:after-event=1:reset"])


def test_rec_replay_rejects_a_bad_fault_and_an_unknown_exchange(tmp_path: Path) -> None:
    from tests.replayer.builders import write

    cassette = write(tmp_path / "one.mpk", [sse_exchange(request_body([]), EVENTS)])
    bad = subprocess.run([str(REC), "replay", str(cassette), "--fault", "0:after-event=1:boom"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown action 'boom'" in bad.stderr
    missing = subprocess.run([str(REC), "replay", str(cassette), "--fault", "7:after-event=1:reset"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "no exchange 7" in missing.stderr, missing.stderr
