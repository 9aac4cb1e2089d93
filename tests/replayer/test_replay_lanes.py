"""WebSocket lanes: the openai SDK's session lanes, several conversations on one replayed connection."""

from __future__ import annotations

import json
import threading
from typing import Any

from openai import OpenAI
from openai.lib.responses_websocket import ResponsesWebSocketLimits, ResponsesWebSocketSession

from rec.cassette import Frame, WebSocketExchange
from replayer.server import ReplayServer
from tests.replayer.builders import text_events, user_message, ws_exchange

LIMITS = ResponsesWebSocketLimits(max_lanes=8, max_events_per_lane=256, max_events=1024,
                                  max_bytes_per_lane=1 << 20, max_bytes=1 << 22)


def create(text: str, lane: str | None, **fields: Any) -> dict[str, Any]:
    message = {"type": "response.create", "model": "gpt-test", "input": [user_message(text)], **fields}
    if lane is not None:
        message["stream_id"] = lane
    return message


def tagged(events: list[dict[str, Any]], lane: str) -> list[dict[str, Any]]:
    return [{**event, "stream_id": lane} for event in events]


def interleaved_lanes() -> WebSocketExchange:
    """As the API answers two lanes at once: both creates, then their events interleaved on the wire."""
    exchange = ws_exchange([])
    lane_a = tagged(text_events("resp_a", "apples", deltas=3), "rec-a")
    lane_b = tagged(text_events("resp_b", "bananas", deltas=3), "rec-b")
    frames = [Frame(1.0, True, True, json.dumps(create("about apples", "rec-a")).encode()),
              Frame(2.0, True, True, json.dumps(create("about bananas", "rec-b")).encode())]
    at = 3.0
    for a, b in zip(lane_a, lane_b, strict=True):
        frames.append(Frame(at, False, True, json.dumps(a).encode()))
        frames.append(Frame(at + 0.5, False, True, json.dumps(b).encode()))
        at += 1.0
    exchange.frames = frames
    return exchange


def lane_text(lane: Any) -> tuple[str, str | None]:
    """The final response's id and the text of its message."""
    final = lane.get_final_response(timeout=5)
    texts = [part.text for item in final.output if item.type == "message" for part in item.content]
    return final.id, "".join(texts) or None


def test_two_lanes_concurrently_each_get_their_own_events(serve: Any) -> None:
    server = serve([interleaved_lanes()])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    results: dict[str, tuple[str, str | None]] = {}
    with client.responses.connect() as connection, ResponsesWebSocketSession(connection, limits=LIMITS) as session:
        # The client's own lane names, and the bananas lane asks first: matching is by content, not order.
        bananas, apples = session.lane("lane-bananas"), session.lane("lane-apples")
        bananas.send(create("about bananas", None))
        apples.send(create("about apples", None))
        threads = [threading.Thread(target=lambda name=name, lane=lane: results.__setitem__(name, lane_text(lane)))
                   for name, lane in (("apples", apples), ("bananas", bananas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert results == {"apples": ("resp_a", "apples"), "bananas": ("resp_b", "bananas")}
    sent = [m.body_json() for m in server.log.single_connection()]
    assert [m["stream_id"] for m in sent] == ["lane-bananas", "lane-apples"]
    report = server.finish()
    assert report.ok and report.unused_events() == [] and report.drifted == 0


def test_lane_events_carry_the_clients_stream_id(serve: Any) -> None:
    server = serve([interleaved_lanes()])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection:
        connection.send(create("about apples", "mine"))
        events = []
        for event in connection:
            events.append(event)
            if event.type == "response.completed":
                break
    assert {event.stream_id for event in events} == {"mine"}
    assert events[-1].response.id == "resp_a"


def test_a_lane_continues_with_previous_response_id_and_echoed_fields_are_the_clients(serve: Any) -> None:
    first = tagged(text_events("resp_1", "one", deltas=1), "rec-lane")
    second = tagged(text_events("resp_2", "two", deltas=1), "rec-lane")
    for event in (first[0], second[0]):
        event["response"]["prompt_cache_key"] = "recorded-key"
    recording = ws_exchange([
        (create("first", "rec-lane", prompt_cache_key="recorded-key"), first),
        (create("second", "rec-lane", previous_response_id="resp_1", prompt_cache_key="recorded-key"), second),
    ])
    server = serve([recording])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection, ResponsesWebSocketSession(connection, limits=LIMITS) as session:
        lane = session.lane("today")
        lane.send(create("first", None, prompt_cache_key="todays-key"))
        created = lane.recv(timeout=5)
        assert created.response.prompt_cache_key == "todays-key"
        assert lane_text(lane) == ("resp_1", "one")
        lane.send(create("second", None, previous_response_id="resp_1", prompt_cache_key="todays-key"))
        assert lane_text(lane) == ("resp_2", "two")
    report = server.finish()
    assert report.ok and report.violations == 0


def test_a_lane_with_nothing_left_is_an_error_event_naming_the_lane(serve: Any) -> None:
    server: ReplayServer = serve([interleaved_lanes()])
    client = OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client.responses.connect() as connection:
        connection.send(create("about apples", "x"))
        for event in connection:
            if event.type == "response.completed":
                break
        connection.send(create("about apples again", "x"))
        error = next(iter(connection))
    assert error.type == "error" and "lane 'x'" in error.error.message
    assert server.report.unmatched == 1
