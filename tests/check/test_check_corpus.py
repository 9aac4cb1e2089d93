"""`rec check` over cassettes: every builder and the bundled example are clean; a corpus breaking each rule once
gives exactly one finding each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rec.cassette import End, Header, HttpExchange, Request, Response, write_cassette
from rec.check import CheckOptions, check_paths
from rec.check.age import parse_max_age
from rec.synth.scenario import Scenario
from recorder.redact import Rules
from tests.check.support import (
    OLD,
    changed,
    every_builder_scenario,
    message_stream,
    numbered,
    outsized,
    sse_body_builders,
    write_old,
)

ROOT = Path(__file__).resolve().parents[2]


def test_cassettes_from_every_builder_and_the_bundled_example_are_clean(tmp_path: Path) -> None:
    every_builder_scenario().write(tmp_path / "built.mpk")
    bodies = [HttpExchange(Request("POST", "/v1/responses"), Response(200, headers=[("content-type",
              "text/event-stream")], chunks=[(0.0, body.encode())]), End()) for body in sse_body_builders()]
    write_cassette(tmp_path / "bodies.mpk", Header(), bodies)
    report = check_paths([tmp_path, ROOT / "cassettes"], CheckOptions())
    assert report.findings == []
    assert set(report.sizes) == {str(tmp_path / "built.mpk"), str(tmp_path / "bodies.mpk"),
                                 str(ROOT / "cassettes" / "example.mpk")}


def test_websocket_lanes_interleave_and_each_is_checked_on_its_own(tmp_path: Path) -> None:
    a = [{**e, "stream_id": "a"} for e in message_stream("ra", "from lane a")]
    b = [{**e, "stream_id": "b"} for e in message_stream("rb", "from lane b")]
    interleaved = [e for pair in zip(a, b, strict=True) for e in pair]
    scenario = Scenario().websocket([({"type": "response.create", "stream_id": "a"}, []),
                                     ({"type": "response.create", "stream_id": "b"}, interleaved)])
    scenario.write(tmp_path / "lanes.mpk")
    assert check_paths([tmp_path], CheckOptions()).findings == []
    broken = [e for e in interleaved if not (e.get("stream_id") == "b" and e["type"] == "response.completed")]
    Scenario().websocket([({"type": "response.create", "stream_id": "a"}, []),
                          ({"type": "response.create", "stream_id": "b"}, broken)]).write(tmp_path / "lanes.mpk")
    assert [f.message for f in check_paths([tmp_path], CheckOptions()).findings] == [
        "WebSocket turn 1 (stream_id 'b'): one_terminal: no terminal event (response.completed, .failed, .incomplete "
        "or error) ends the stream"]


def test_a_deliberate_fault_is_left_alone(tmp_path: Path) -> None:
    no_end = message_stream("r", "x")[:-1]
    Scenario().sse_turn(no_end, malformed=True).websocket([(None, no_end)], malformed=True).write(tmp_path / "f.mpk")
    assert check_paths([tmp_path], CheckOptions()).findings == []


def cut_cassette(path: Path) -> None:
    Scenario().sse_turn(message_stream("r1", "a")).sse_turn(message_stream("r2", "b")).write(path)
    path.write_bytes(path.read_bytes()[:-7])


def sse(change: Callable[[list], object]) -> Callable[[Path], None]:
    return lambda path: Scenario().sse_turn(numbered(changed(message_stream("r", "a b"), change))).write(path)


def secret_in(**kwargs: object) -> Callable[[Path], None]:
    return lambda path: Scenario().sse_turn(message_stream("r", "ok"), **kwargs).write(path)  # type: ignore[arg-type]


KEY = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"
# name -> (how the cassette is made, the options, the rule and a piece of its message)
CORPUS: dict[str, tuple[Callable[[Path], None], CheckOptions, str, str]] = {
    "created_first": (sse(lambda e: e.pop(0)), CheckOptions(), "streams", "created_first: event 0"),
    "response_id": (sse(lambda e: e[-1]["response"].update(id="r9")), CheckOptions(), "streams", "response 'r9'"),
    "one_terminal": (sse(lambda e: e.pop()), CheckOptions(), "streams", "no terminal event"),
    "item_lifetime": (sse(lambda e: e.insert(2, e.pop(4))), CheckOptions(), "streams",
                      "before its response.output_item.added"),
    "item_identity": (sse(lambda e: e[4].update(item_id="msg_x")), CheckOptions(), "streams",
                      "names item 'msg_x' at output_index 0"),
    "output": (sse(lambda e: e[-1]["response"]["output"].append({"id": "msg_y"})), CheckOptions(), "streams",
               "lists the output"),
    "sequence": (lambda p: Scenario().sse_turn(changed(message_stream("r", "a"), lambda e: e[3].update(
        sequence_number=0))).write(p), CheckOptions(), "streams", "sequence_number 0, not above"),
    "websocket turn": (lambda p: Scenario().websocket([(None, message_stream("w1", "a")),
                                                      (None, message_stream("w2", "b")[1:])]).write(p),
                       CheckOptions(), "streams", "WebSocket turn 1: created_first"),
    "key in a body": (lambda p: Scenario().sse_turn(message_stream("r", f"your key is {KEY}")).write(p),
                      CheckOptions(), "secrets", "the response body holds a credential: OpenAI API Key (sk-proj…"),
    "bearer elsewhere": (secret_in(request={"input": "x"}, headers=[("x-upstream-auth", "Bearer abcdef0123456789xyz")]),
                         CheckOptions(), "secrets",
                         "the response header 'x-upstream-auth' holds a credential: Bearer Token (abcdef0…"),
    "jwt in a frame": (lambda p: Scenario().websocket([({"type": "response.create", "token": JWT},
                                                        message_stream("w", "ok"))]).write(p),
                       CheckOptions(), "secrets", "WebSocket frame 0 holds a credential: JSON Web Token (eyJhbGc…"),
    "cookie header": (secret_in(headers=[("set-cookie", "session=abc123")]), CheckOptions(), "secrets",
                      "the response header 'set-cookie' is not redacted"),
    "--redact header": (secret_in(headers=[("x-tenant", "acme-7")]),
                        CheckOptions(redact=Rules().with_rules(["header:x-tenant"])), "secrets",
                        "'x-tenant' is not redacted"),
    "--redact regex": (lambda p: Scenario().sse_turn(message_stream("r", "id ACME-1234")).write(p),
                       CheckOptions(redact=Rules().with_rules(["regex:ACME-[0-9]+"])), "secrets",
                       "holds a credential: a match of a --redact regex (ACME-12…"),
    "--redact json": (lambda p: Scenario().json_turn({"ok": True}, request={"metadata": {"user": "alice"}}).write(p),
                      CheckOptions(redact=Rules().with_rules(["json:metadata.user"])), "secrets",
                      "the request body holds a credential: a value at a --redact json: path (alice"),
    "stale": (lambda p: write_old(p, Scenario().sse_turn(message_stream("r", "x")), OLD),
              CheckOptions(max_age=parse_max_age("90d"), on_expiry="fail"), "stale", "recorded 2020-01-01"),
    "size": (lambda p: outsized(Scenario()).write(p), CheckOptions(), "size", "the cassette's median"),
    "damage": (cut_cassette, CheckOptions(), "damage", "truncated record at byte"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_rule_broken_once_is_exactly_one_finding(tmp_path: Path, name: str) -> None:
    make, options, rule, expected = CORPUS[name]
    make(tmp_path / "broken.mpk")
    findings = check_paths([tmp_path], options).findings
    assert [f.rule for f in findings] == [rule], findings
    assert expected in findings[0].message and findings[0].fix, findings[0]
    assert findings[0].cassette == str(tmp_path / "broken.mpk")


def test_the_exchange_is_numbered_as_rec_show_numbers_it(tmp_path: Path) -> None:
    scenario = Scenario().models([{"slug": "m"}]).sse_turn(message_stream("r", "x")[1:])
    scenario.write(tmp_path / "third.mpk")
    assert [f.exchange for f in check_paths([tmp_path], CheckOptions()).findings] == [1]


@pytest.mark.parametrize(("on_expiry", "fails"), [("fail", True), ("warn", False), ("rerecord", False)])
def test_on_expiry_decides_whether_a_stale_cassette_fails(tmp_path: Path, on_expiry: str, fails: bool) -> None:
    write_old(tmp_path / "old.mpk", Scenario().sse_turn(message_stream("r", "x")), OLD)
    report = check_paths([tmp_path], CheckOptions(max_age=parse_max_age("90d"), on_expiry=on_expiry))
    assert [(f.rule, f.fails) for f in report.findings] == [("stale", fails)] and report.failed == fails
    assert check_paths([tmp_path], CheckOptions(max_age=parse_max_age("10000w"))).findings == []


def test_an_outsized_exchange_warns_without_failing(tmp_path: Path) -> None:
    outsized(Scenario()).write(tmp_path / "big.mpk")
    report = check_paths([tmp_path], CheckOptions())
    assert [(f.exchange, f.fails) for f in report.findings] == [(4, False)] and not report.failed
