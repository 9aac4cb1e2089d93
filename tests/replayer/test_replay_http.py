"""HTTP replay with the openai SDK: streams, compact, models, matching, drift and recorded faults."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from typing import Any

import pytest
import zstandard
from openai import APIConnectionError, AsyncOpenAI, ConflictError, InternalServerError, NotFoundError, OpenAI

from rec import normalize
from rec.cassette import End, HttpExchange, Request, Response
from rec.config import load_normalizer
from replayer.server import ReplayServer
from tests.replayer.builders import (
    json_exchange,
    request_body,
    sse_event,
    sse_exchange,
    text_events,
    user_message,
    write,
)
from tests.replayer.client import post


def client_for(server: ReplayServer, **options: Any) -> OpenAI:
    return OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, **options)


def stream_text(client: OpenAI, text: str, **fields: Any) -> tuple[list[str], str]:
    """Stream one response; returns the event types and the joined text deltas."""
    types: list[str] = []
    deltas: list[str] = []
    with client.responses.create(model="gpt-test", input=[user_message(text)], stream=True, **fields) as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
    return types, "".join(deltas)


def test_sdk_stream_is_replayed_event_by_event(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "Hello there", 3))])
    types, text = stream_text(client_for(server), "hi")
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 3
    assert text == "Hello there"
    request = server.log.single_request()
    assert request.path() == "/v1/responses"
    assert request.message_input_texts("user") == ["hi"]
    assert request.header("Authorization") == "Bearer sk-test"
    assert server.report.summary() == {"served": 1, "unmatched": 0, "unused": 0, "unconsumed": 0, "violations": 0,
                                      "drifted": 0}


def test_base_url_without_v1_reaches_the_same_exchanges(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "ok"))])
    client = OpenAI(base_url=f"http://{server.host}:{server.port}", api_key="k", max_retries=0)
    assert stream_text(client, "hi")[1] == "ok"
    assert server.log.single_request().path() == "/responses"


def test_compact_and_models_are_served_as_recorded(serve: Any) -> None:
    compacted = {"id": "resp_c", "object": "response.compaction", "created_at": 1,
                 "output": [{"type": "compaction", "id": "cmp_1", "encrypted_content": "opaque"}],
                 "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                           "input_tokens_details": {"cached_tokens": 0},
                           "output_tokens_details": {"reasoning_tokens": 0}}}
    models = {"object": "list", "data": [{"id": "gpt-test", "object": "model", "created": 1, "owned_by": "rec"}]}
    server = serve([
        json_exchange("POST", "/v1/responses/compact", compacted, body={"model": "gpt-test", "input": []}),
        json_exchange("GET", "/v1/models", models, headers=[("etag", '"models-v1"')]),
    ])
    client = client_for(server)
    result = client.responses.compact(model="gpt-test", input=[user_message("long history")])
    assert result.output[0].type == "compaction"
    page = client.models.with_raw_response.list()
    assert page.headers["etag"] == '"models-v1"'
    assert [model.id for model in page.parse()] == ["gpt-test"]


def test_sequence_mode_answers_in_recorded_order_then_409(serve: Any) -> None:
    server = serve([
        sse_exchange(request_body([user_message("one")]), text_events("resp_1", "first")),
        sse_exchange(request_body([user_message("two")]), text_events("resp_2", "second")),
    ])
    client = client_for(server)
    assert stream_text(client, "one")[1] == "first"
    assert stream_text(client, "two")[1] == "second"
    status, headers, body = post(server, "/v1/responses", request_body([user_message("three")]))
    assert status == 409 and headers["x-should-retry"] == "false"
    error = json.loads(body)["error"]
    assert error["code"] == "rec_no_match"
    assert "POST /v1/responses" in error["message"] and "#0" in error["message"] and "#1" in error["message"]
    assert server.report.unmatched == 1


def test_repeat_reuses_the_last_answer(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "again"))], repeat=True)
    client = client_for(server)
    assert [stream_text(client, "hi")[1] for _ in range(3)] == ["again"] * 3
    assert server.report.ok


def test_body_mode_gives_64_concurrent_clients_their_own_answers(serve: Any) -> None:
    exchanges = [sse_exchange(request_body([user_message(f"question {i}")]), text_events(f"resp_{i}", f"answer {i}"))
                 for i in range(64)]
    server = serve(exchanges, match="body")

    async def ask(client: AsyncOpenAI, i: int) -> str:
        deltas = []
        stream = await client.responses.create(model="gpt-test", input=[user_message(f"question {i}")], stream=True)
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        return "".join(deltas)

    async def main() -> list[str]:
        async with AsyncOpenAI(base_url=server.url, api_key="k", max_retries=0) as client:
            order = list(reversed(range(64)))  # the reverse of the recorded order
            answers = await asyncio.gather(*(ask(client, i) for i in order))
            return [answer for _, answer in sorted(zip(order, answers, strict=True))]

    assert asyncio.run(main()) == [f"answer {i}" for i in range(64)]
    assert server.report.summary()["served"] == 64 and server.report.ok


def test_body_mode_ignores_volatile_fields_and_extra_ignored_paths(serve: Any) -> None:
    recorded = request_body([user_message("hi")], prompt_cache_key="run-1", metadata={"trace": "a"})
    server = serve([sse_exchange(recorded, text_events("resp_1", "matched"))], match="body", ignore=["metadata"])
    received = request_body([user_message("hi")], prompt_cache_key="run-2", metadata={"trace": "b"})
    status, _, body = post(server, "/v1/responses", received)
    assert status == 200 and b"matched" in body
    assert server.report.drifted == 0


def test_a_projects_lookaround_mask_matches_and_one_that_backtracks_too_far_is_a_500_naming_it(
        serve: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rec.toml").write_text('mask = ["(?<=build )[0-9]+", "(a|a)+$(?!x)"]\n')  # as an older rec took
    monkeypatch.setattr(normalize, "BACKTRACKING_MASK_SECONDS", 0.05)
    server = serve([sse_exchange(request_body([user_message("build 41")]), text_events("resp_1", "matched"))],
                   match="body", repeat=True, normalizer=load_normalizer(start=tmp_path))
    assert stream_text(client_for(server), "build 42")[1] == "matched"
    with pytest.raises(InternalServerError) as stalled:  # 2^28 ways to split the a's: stopped, and named
        stream_text(client_for(server), "a" * 28 + "!")
    assert "ran over 0.05 s" in stalled.value.message and "(a|a)+$(?!x)" in stalled.value.message
    assert stream_text(client_for(server), "build 43")[1] == "matched"  # and the server goes on


def test_drift_is_reported_with_a_unified_diff(serve: Any, tmp_path: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("recorded words")]), text_events("resp_1", "x"))])
    stream_text(client_for(server), "different words")
    report = server.finish().to_json()
    assert report["summary"]["drifted"] == 1
    (event,) = [e for e in report["events"] if e["kind"] == "drift"]
    assert event["route"] == "POST /v1/responses" and event["exchange"] == 0
    assert event["message"] == ("request differs from the recorded one first at `input[0].content[0].text`: "
                                'recorded "recorded words", received "different words"')
    assert '-          "text": "recorded words"' in event["diff"]
    assert '+          "text": "different words"' in event["diff"]
    assert event["recorded"]["input"][0]["content"][0]["text"] == "recorded words"


def test_unused_exchanges_are_reported(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("a")]), text_events("resp_1", "x")),
                    json_exchange("GET", "/v1/models", {"object": "list", "data": []})])
    stream_text(client_for(server), "a")
    report = server.finish()
    assert report.summary()["unused"] == 1
    assert report.unused_events()[0].route == "GET /v1/models"


def test_zstd_request_bodies_are_decoded(serve: Any) -> None:
    body = request_body([user_message("compressed")])
    server = serve([sse_exchange(body, text_events("resp_1", "ok"))])
    raw = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
    status, _, _ = post(server, "/v1/responses", raw, {"content-encoding": "zstd"})
    assert status == 200
    request = server.log.single_request()
    assert request.body_bytes() == raw
    assert request.body_contains_text("compressed")
    assert server.report.drifted == 0


def test_chunked_request_body_is_read(serve: Any) -> None:
    body = json.dumps(request_body([user_message("chunked")])).encode()
    server = serve([sse_exchange(body, text_events("resp_1", "ok"))])
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        half = len(body) // 2
        chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n" + chunks)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in answer and answer.endswith(b"0\r\n\r\n")
    assert server.log.single_request().body_bytes() == body


@pytest.mark.parametrize(("raw", "headers", "status", "code", "words"), [
    (b"{not json", {}, 400, "rec_bad_request", "not JSON"),
    (b'{"model": "gpt-test"}', {}, 400, "rec_invariant_violation", "no `input` (an array of items, or a string)"),
    (b"plainly not zstd", {"content-encoding": "zstd"}, 400, "rec_bad_request", "zstd"),
])
def test_bad_request_bodies_get_a_clear_400_and_the_server_keeps_serving(
        serve: Any, raw: bytes, headers: dict[str, str], status: int, code: str, words: str) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "still here"))])
    got_status, _, body = post(server, "/v1/responses", raw, headers)
    assert got_status == status
    error = json.loads(body)["error"]
    assert error["code"] == code and words in error["message"]
    assert server.report.violations == 1
    assert stream_text(client_for(server), "hi")[1] == "still here"


def test_body_mode_no_match_names_the_closest_recording_and_where_it_differs(serve: Any) -> None:
    server = serve([
        sse_exchange(request_body([user_message("what is in this folder?")]), text_events("resp_1", "a.txt")),
        sse_exchange(request_body([user_message("say hi"), user_message("then bye")], temperature=0.2),
                     text_events("resp_2", "hi")),
    ], match="body")
    with pytest.raises(ConflictError) as caught:
        stream_text(client_for(server), "what is in this directory?")
    message = caught.value.body["message"]  # type: ignore[index]
    assert ("the closest recorded request is #0, which differs first at `input[0].content[0].text`: "
            'recorded "what is in this folder?", received "what is in this directory?"') in message
    status, _, body = post(server, "/v1/responses", request_body([user_message("say hi"), user_message("then bye")]))
    assert status == 409
    assert ("closest recorded request is #1, which differs first at `temperature`: recorded 0.2, received nothing"
            in json.loads(body)["error"]["message"])
    assert server.report.unmatched == 2


def test_a_request_sent_again_is_named_as_the_same_as_the_served_one(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "hello"))])
    client = client_for(server)
    assert stream_text(client, "hi")[1] == "hello"
    with pytest.raises(ConflictError) as caught:
        stream_text(client, "hi")
    assert "it is the same request as #0 (already served) after normalization" in caught.value.body["message"]  # type: ignore[index]


def test_a_mistyped_route_gets_a_did_you_mean(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "x"))])
    status, _, body = post(server, "/v1/response", request_body([user_message("hi")]))
    assert status == 404
    assert "no exchange was recorded for POST /v1/response (did you mean POST /v1/responses?)" in body.decode()


def test_unknown_route_is_a_404_naming_the_recorded_routes(serve: Any) -> None:
    server = serve([sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "x"))])
    with pytest.raises(NotFoundError) as caught:
        client_for(server).files.list()
    assert "GET /v1/files" in str(caught.value) and "POST /v1/responses" in str(caught.value)
    assert server.report.unmatched == 1


def _tool_turns() -> list[HttpExchange]:
    from tests.replayer.builders import function_call_item, tool_call_events

    first = request_body([user_message("run ls")])
    call = function_call_item("call_1", "exec_command", '{"cmd": "ls"}')
    second = request_body([user_message("run ls"), call,
                           {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}])
    return [sse_exchange(first, tool_call_events("resp_1", "call_1", "exec_command", '{"cmd": "ls"}')),
            sse_exchange(second, text_events("resp_2", "done"))]


@pytest.mark.parametrize(("items", "words"), [
    ([{"type": "function_call_output", "call_id": "call_9", "output": "x"}],
     "function_call_output without a matching function_call or local_shell_call in the conversation: call id call_9"),
    ([{"type": "function_call", "call_id": "call_7", "name": "f", "arguments": "{}"}],
     "function_call without its function_call_output: call id call_7"),
    ([{"type": "custom_tool_call_output", "call_id": "", "output": "x"}], "missing or empty call_id"),
    ([{"type": "custom_tool_call", "call_id": "call_5", "name": "f", "input": ""}],
     "custom_tool_call without its custom_tool_call_output: call id call_5"),
])
def test_invariant_violations_are_400s_naming_the_call_id(serve: Any, items: list[Any], words: str) -> None:
    server = serve(_tool_turns())
    status, _, body = post(server, "/v1/responses", request_body([user_message("run ls"), *items]))
    assert status == 400
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rec_invariant_violation")
    assert error["message"].startswith("rec: request breaks a Responses invariant: ") and words in error["message"]
    assert server.report.violations == 1


def test_a_whole_tool_turn_passes_the_invariants_and_helpers_see_it(serve: Any) -> None:
    server = serve(_tool_turns())
    client = client_for(server)
    stream_text(client, "run ls")
    call = {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": '{"cmd": "ls"}'}
    output = {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}
    with client.responses.create(model="gpt-test", input=[user_message("run ls"), call, output], stream=True) as s:
        list(s)
    assert server.report.ok and server.report.served == 2
    assert server.log.saw_function_call("call_1")
    assert server.log.function_call_output_text("call_1") == "a.txt"
    last = server.log.last_request()
    assert last is not None and last.function_call_output_content_and_success("call_1") == ("a.txt", None)
    assert last.function_call_output("call_1")["output"] == "a.txt"


def test_previous_response_id_over_http_chains_to_served_responses(serve: Any) -> None:
    server = serve(_tool_turns())
    post(server, "/v1/responses", request_body([user_message("run ls")]))
    chained = request_body([{"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}],
                           previous_response_id="resp_1")
    assert post(server, "/v1/responses", chained)[0] == 200
    unknown = request_body([user_message("x")], previous_response_id="resp_never")
    status, _, body = post(server, "/v1/responses", unknown)
    assert status == 400 and "resp_never" in json.loads(body)["error"]["message"]


def _faulted(error: str) -> HttpExchange:
    events = text_events("resp_1", "partial answer", 4)
    chunks = [(float(i), sse_event(e)) for i, e in enumerate(events[:4])]
    return HttpExchange(
        request=Request(method="POST", path="/v1/responses",
                        body=json.dumps(request_body([user_message("hi")])).encode()),
        response=Response(status=200, headers=[("content-type", "text/event-stream")], chunks=chunks),
        end=End(state="error", error=error, message="upstream went away", at_ms=5.0),
    )


@pytest.mark.parametrize("error", ["reset", "timeout"])
def test_recorded_faults_replay_as_faults(serve: Any, error: str) -> None:
    server = serve([_faulted(error)])
    types: list[str] = []
    client = client_for(server)
    # The stream fails while it is read, after the recorded events.
    with pytest.raises(APIConnectionError), client.responses.create(
            model="gpt-test", input=[user_message("hi")], stream=True) as stream:
        types.extend(event.type for event in stream)
    assert types == ["response.created", "response.output_item.added", "response.content_part.added",
                     "response.output_text.delta"]


def test_reset_is_an_rst_after_the_recorded_bytes(serve: Any) -> None:
    server = serve([_faulted("reset")])
    body = json.dumps(request_body([user_message("hi")])).encode()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += chunk
    assert b"response.output_text.delta" in received and not received.endswith(b"0\r\n\r\n")


def _chunked_answer(server: ReplayServer, body: bytes) -> list[bytes]:
    """POST ``body`` on a raw socket; the chunks of the answer's chunked body as framed on the wire, in order."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(65536)
            assert data, received
            received += data
    head, _, rest = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    chunks: list[bytes] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            return chunks
        assert rest[size:size + 2] == b"\r\n"
        chunks.append(rest[:size])
        rest = rest[size + 2:]


@pytest.mark.parametrize("timing", ["none", "scale:0", "scale:0.01"])
def test_a_stream_keeps_its_recorded_chunks_only_when_paced(serve: Any, timing: str) -> None:
    """Sent at once, an answer's body is one chunk (its boundaries would not survive TCP anyway); paced, each recorded
    chunk is a chunk of its own, at its offset. Empty recorded chunks are never framed (one would end the body)."""
    events = text_events("resp_1", "kept apart", 3)
    recorded = [(float(n), sse_event(event)) for n, event in enumerate(events)]
    recorded.insert(2, (1.5, b""))
    body = request_body([user_message("hi")])
    server = serve([sse_exchange(body, events, chunks=recorded)], timing=timing, repeat=True)
    for _ in range(2):  # compiled on the first serve, kept for the next
        chunks = _chunked_answer(server, json.dumps(body).encode())
        assert b"".join(chunks) == b"".join(data for _, data in recorded)
        assert chunks == ([data for _, data in recorded if data] if timing == "scale:0.01" else [b"".join(chunks)])


@pytest.mark.parametrize("indexed", [False, True], ids=["decoded at load", "indexed"])
def test_paced_faulted_and_echoed_serves_read_the_recorded_chunks_of_a_cassette(
        tmp_path: Any, monkeypatch: Any, indexed: bool) -> None:
    """A stream decoded at load keeps its recorded chunks; one read from a large cassette's index keeps only its
    body, and decodes its record again when a serve needs the chunks' boundaries: paced, or faulted (an echoed
    serve needs them only paced). Either way each serve sends what the recording holds."""
    from replayer import core

    fields = {"prompt_cache_key": "recorded"}
    events = text_events("resp_1", "kept apart", 3)
    for event in events:
        if "response" in event:
            event["response"].update(fields)
    raw_events = [sse_event(event) for event in events]
    # One event split across two chunks: the boundaries are the recording's, not the events'.
    recorded = [(1.0, raw_events[0][:7]), (2.0, raw_events[0][7:])] + [
        (float(n + 3), raw) for n, raw in enumerate(raw_events[1:])]
    body = request_body([user_message("hi")], **fields)
    path = write(tmp_path / "stream.mpk", [sse_exchange(body, events, chunks=recorded)])
    if indexed:
        monkeypatch.setattr(core, "DECODE_AT_LOAD_UP_TO", 0)  # as a cassette too big to decode at load
    with ReplayServer.from_cassettes([path], timing="scale:0.01", repeat=True) as server:
        assert _chunked_answer(server, json.dumps(body).encode()) == [data for _, data in recorded]
        # Echoed and paced: each event its own chunk, the client's field in the events that carry it.
        echoed = _chunked_answer(server, json.dumps({**body, "prompt_cache_key": "today"}).encode())
        mine = [{**event, "response": {**event["response"], "prompt_cache_key": "today"}} if "response" in event
                else event for event in events]
        assert [json.loads(chunk.split(b"data: ", 1)[1]) for chunk in echoed] == mine
    with ReplayServer.from_cassettes([path], faults=["0:after-event=2:close"]) as server:
        types, _ = stream_text(client_for(server), "hi", prompt_cache_key="recorded")
        assert types == ["response.created", "response.output_item.added"]
    with ReplayServer.from_cassettes([path]) as server:
        client = client_for(server)
        with client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True,
                                     prompt_cache_key="today") as stream:
            streamed = list(stream)
    assert [event.type for event in streamed] == [event["type"] for event in events]
    completed = streamed[-1]
    assert completed.type == "response.completed" and completed.response.prompt_cache_key == "today"


def test_exchanges_and_rules_added_at_runtime_are_served(serve: Any) -> None:
    from replayer.answers import sse_answer
    from replayer.matching import Rule

    server = serve([])
    server.add_exchanges([sse_exchange(request_body([user_message("later")]), text_events("resp_1", "added"))])
    rule = server.mount(Rule("POST", "/responses", [sse_answer(b"".join(sse_event(e) for e in
                                                                        text_events("resp_m", "mounted")))],
                             predicate=lambda request: request.body_contains_text("special"), max_uses=1))
    client = client_for(server)
    assert stream_text(client, "special")[1] == "mounted"
    assert stream_text(client, "later")[1] == "added"
    assert rule.log.single_request().message_input_texts("user") == ["special"]
    assert len(server.log.requests()) == 2


def test_async_context_manager_serves_on_the_running_loop() -> None:
    async def main() -> str:
        exchange = sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "async"))
        async with ReplayServer([exchange]) as server, AsyncOpenAI(base_url=server.url, api_key="k",
                                                                   max_retries=0) as client:
            stream = await client.responses.create(model="gpt-test", input=[user_message("hi")], stream=True)
            return "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])

    assert asyncio.run(main()) == "async"


def test_a_malformed_record_is_named_at_load_or_when_first_served(tmp_path: Any, monkeypatch: Any) -> None:
    """A cassette of a test's size is decoded at load (a bad record stops it, named); a big one is indexed and
    decodes each answer on its first serve (a bad record is a 500 naming it then)."""
    import msgpack

    from rec.cassette import CassetteError, Header
    from replayer import core

    good = sse_exchange(request_body([user_message("hi")]), text_events("resp_1", "hello")).to_record()
    bad = {**good, "end": {**good["end"], "at_ms": "soon"}}
    frames = [Header(version=1).to_record(), good, bad]
    path = tmp_path / "mixed.mpk"
    path.write_bytes(b"".join(zstandard.ZstdCompressor(write_content_size=True).compress(
        msgpack.packb(record, use_bin_type=True)) for record in frames))
    with pytest.raises(CassetteError, match=r"exchange #1: `end.at_ms` must be a number, got text"):
        ReplayServer.from_cassettes([path])
    monkeypatch.setattr(core, "DECODE_AT_LOAD_UP_TO", 0)  # as a cassette too big to decode at load
    with ReplayServer.from_cassettes([path]) as server:
        assert stream_text(client_for(server), "hi")[1] == "hello"
        status, _, body = post(server, "/v1/responses", request_body([user_message("hi")]))
    assert status == 500 and b"rec_bad_cassette" in body
    assert b"exchange #1" in body and b"`end.at_ms` must be a number, got text" in body
    assert not server.report.ok


def test_rec_failing_on_a_request_is_a_500_on_a_connection_that_stays_open(serve: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve([json_exchange("GET", "/v1/models", {"data": []})], repeat=True)
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)

    def broken(request: Any) -> Any:
        raise RuntimeError("a bug\nover two lines")

    # A bug in rec (not the client's doing): named in one line, and the connection goes on.
    with monkeypatch.context() as patched:
        patched.setattr(server.core, "handle_http", broken)
        connection.request("GET", "/v1/models")
        answer = connection.getresponse()
        error = json.loads(answer.read())["error"]
    assert answer.status == 500 and error["code"] == "rec_internal_error"
    assert error["message"] == "rec failed on GET /v1/models: RuntimeError: a bug over two lines"
    connection.request("GET", "/v1/models")
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize("content_type, chunks", [
    ("application/json", [(0.0, b'{"object": "list", "data": []}')]),
    ("text/event-stream", [(0.0, b'event: a\ndata: {"type": "a"}\n\n'), (1.0, b'event: b\ndata: {"type": "b"}\n\n')]),
], ids=["whole body", "stream"])
def test_a_recorded_header_a_client_cannot_parse_leaves_it_the_body_s_end(
        tmp_path: Any, content_type: str, chunks: list[tuple[float, bytes]]) -> None:
    """http.client stops reading headers at a name with a space (an upstream may send one, and the recorder keeps
    what it sent): the framing headers come before it, so the client reads the body instead of waiting for a
    close that a kept-alive connection never sends."""
    exchange = HttpExchange(request=Request("GET", "/v1/models"), response=Response(
        200, "OK", [("content-type", content_type), ("x odd name", "v")], chunks))
    path = write(tmp_path / "odd.mpk", [exchange])
    with ReplayServer.from_cassettes([path]) as server:
        status, _, body = post(server, "/v1/models", b"", method="GET")
    assert (status, body) == (200, b"".join(data for _, data in chunks))
