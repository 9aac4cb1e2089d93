"""The request log: what clients sent (a `rec serve` session's bounded), rendered as the journal only when read."""

from __future__ import annotations

import asyncio
import threading

import orjson
import pytest
import zstandard

from rec.redaction import DEFAULT_SECRET_HEADERS
from replayer.request_log import KEPT, RequestLog, ResponsesRequest, WebSocketHandshake, journal, journal_log


def request(n: int, headers: list[tuple[str, str]] | None = None, body: bytes | None = None) -> ResponsesRequest:
    return ResponsesRequest("POST", f"/v1/responses?n={n}", headers or [],
                            orjson.dumps({"input": f"prompt {n}"}) if body is None else body)


def test_the_log_keeps_the_newest_and_counts_what_it_left_out() -> None:
    log = RequestLog(kept=3)
    for n in range(5):
        log.add_request(request(n))
    first = log.add_connection(WebSocketHandshake("/v1/responses", []))
    for n in range(2):
        log.add_message(first, orjson.dumps({"type": "response.create", "n": n}))
    second = log.add_connection(WebSocketHandshake("/v1/responses", []))
    for n in range(2, 4):
        log.add_message(second, orjson.dumps({"type": "response.create", "n": n}))

    assert [r.query_param("n") for r in log.requests()] == ["2", "3", "4"]
    assert log.last_request() is not None and log.last_request().query_param("n") == "4"  # type: ignore[union-attr]
    # The newest three messages over both connections: the first connection's oldest is left out.
    assert [[m.body_json()["n"] for m in messages] for messages in log.connections()] == [[1], [2, 3]]
    assert log.omitted() == {"requests": 2, "messages": 1}
    document = journal(log)
    assert [r["body"]["input"] for r in document["requests"]] == ["prompt 2", "prompt 3", "prompt 4"]
    assert [[m["n"] for m in c["messages"]] for c in document["websockets"]] == [[1], [2, 3]]
    assert document["omitted"] == {"requests": 2, "messages": 1}


def test_messages_of_a_connection_left_out_are_counted_with_it() -> None:
    log = RequestLog(kept=1)
    old = log.add_connection(WebSocketHandshake("/v1/responses", []))
    new = log.add_connection(WebSocketHandshake("/v1/responses", [("x-n", "2")]))
    log.add_message(old, b'{"n": 1}')  # the newest message, on a connection no longer kept
    assert [h.header("x-n") for h in log.handshakes()] == ["2"]
    assert log.connections() == [[]]
    assert log.omitted() == {"websockets": 1, "messages": 1}
    log.add_message(new, b'{"n": 2}')
    assert log.omitted() == {"websockets": 1, "messages": 1}
    assert [[m.body_json() for m in messages] for messages in log.connections()] == [[{"n": 2}]]


def test_a_single_request_is_one_ever_seen_not_one_kept() -> None:
    log = RequestLog(kept=1)
    log.add_request(request(0))
    assert log.single_request().query_param("n") == "0"
    log.add_request(request(1))
    with pytest.raises(AssertionError, match="expected 1 request, got 2"):
        log.single_request()


def test_a_journal_without_anything_left_out_has_no_omitted() -> None:
    log = RequestLog()
    log.add_request(request(0))
    assert "omitted" not in journal(log)


def test_the_journal_hides_credentials_and_decodes_bodies_without_keeping_them() -> None:
    log = RequestLog()
    secrets = [(name.title(), "secret") for name in sorted(DEFAULT_SECRET_HEADERS)]
    compressed = zstandard.ZstdCompressor().compress(b'{"input": "packed"}')
    log.add_request(request(0, [*secrets, ("X-Kept", "yes"), ("Content-Encoding", "zstd")], compressed))
    log.add_request(request(1, body=b"not json"))
    log.add_request(request(2, body=b""))
    log.add_connection(WebSocketHandshake("/v1/responses", [*secrets, ("X-Kept", "yes")]))
    document = journal(log)
    assert [r["body"] for r in document["requests"]] == [{"input": "packed"}, "not json", None]
    assert document["requests"][0]["headers"] == {"x-kept": "yes", "content-encoding": "zstd"}
    assert document["websockets"][0]["headers"] == {"x-kept": "yes"}
    # Rendering parsed the bodies for the answer only: the requests hold their bytes, nothing more.
    assert all("_json" not in vars(r) for r in log.requests())


def test_a_journal_rebuilt_as_a_log_keeps_its_counts() -> None:
    log = RequestLog(kept=1)
    log.add_request(request(0))
    log.add_request(request(1))
    number = log.add_connection(WebSocketHandshake("/v1/responses", []))
    log.add_message(number, b'{"type": "response.create"}')
    rebuilt = journal_log(orjson.loads(orjson.dumps(journal(log))))
    assert rebuilt.seen() == log.seen() == {"requests": 2, "websockets": 1, "messages": 1}
    assert rebuilt.last_request().body_json() == {"input": "prompt 1"}  # type: ignore[union-attr]
    assert rebuilt.single_connection()[0].body_json() == {"type": "response.create"}


def test_waiting_for_handshakes_on_the_loop_wakes_when_one_is_logged() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        log = RequestLog()
        waiting = asyncio.ensure_future(log.wait_for_handshakes_async(2, timeout=30))
        log.add_connection(WebSocketHandshake("/v1/responses", []))
        await asyncio.sleep(0)
        still_waiting = not waiting.done()
        # From another thread too (a server on a thread of its own).
        thread = threading.Thread(target=log.add_connection, args=(WebSocketHandshake("/v1/responses", []),))
        thread.start()
        thread.join()
        arrived = await waiting
        missed = await log.wait_for_handshakes_async(3, timeout=0)
        return still_waiting, arrived, missed

    assert asyncio.run(scenario()) == (True, True, False)


def test_a_log_keeps_every_request_unless_bounded() -> None:
    """A test reads its own process's log whole; only a `rec serve` session's log is bounded (KEPT)."""
    log = RequestLog()
    for number in range(KEPT + 5):
        log.add_request(request(number))
    assert len(log.requests()) == KEPT + 5 and log.omitted() == {}
