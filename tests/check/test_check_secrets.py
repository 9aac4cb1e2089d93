"""The `secrets` rule finds a credential wherever it stands in an exchange, however quiet the rest of it.

An exchange's text is looked over at once before any detector runs on a piece of it; these
tests put one credential in each place in turn, among text with nothing to find, and expect
the finding to name that place and no other.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import pytest

from rec.cassette import Close, Exchange, Frame, HttpExchange, Request, Response, WebSocketExchange
from rec.check import CheckOptions
from rec.check.bodies import answer_of
from rec.check.secrets import secret_findings
from rec.redaction import Rules
from tests.support.credentials import CREDENTIALS

KEY = CREDENTIALS["GitHub Token"]
QUIET = json.dumps({"type": "response.output_text.delta", "delta": "nothing to see in this answer " * 20}).encode()


def http(request_path: str = "/v1/responses", request_headers: list[tuple[str, str]] | None = None,
         request_body: bytes = QUIET, reason: str = "OK", response_headers: list[tuple[str, str]] | None = None,
         response_body: bytes = QUIET) -> HttpExchange:
    return HttpExchange(Request("POST", request_path, headers=request_headers or [("content-type", "text/plain")],
                                body=request_body),
                        Response(200, reason, response_headers or [("content-type", "text/plain")],
                                 [(0.0, response_body[:40]), (1.0, response_body[40:])]))


def websocket(frames: list[bytes], close_reason: str = "") -> WebSocketExchange:
    return WebSocketExchange(Request("GET", "/v1/responses"), Response(101, "Switching Protocols"),
                             frames=[Frame(float(n), n % 2 == 0, True, payload) for n, payload in enumerate(frames)],
                             close=Close(1000, close_reason))


# place -> an exchange holding the credential there alone
PLACES: dict[str, Callable[[], Exchange]] = {
    "the request URL": lambda: http(request_path=f"/v1/responses/{KEY}"),
    "the request header 'x-forwarded-token'": lambda: http(request_headers=[("x-forwarded-token", KEY)]),
    "the request body": lambda: http(request_body=QUIET + KEY.encode()),
    "the reason phrase": lambda: http(reason=f"OK {KEY}"),
    "the response header 'x-echo'": lambda: http(response_headers=[("x-echo", KEY)]),
    "the response body": lambda: http(response_body=QUIET + KEY.encode() + QUIET),
    "the response body (gzip)": lambda: http(response_headers=[("content-encoding", "gzip")],
                                             response_body=gzip.compress(QUIET + KEY.encode())),
    "WebSocket frame 0": lambda: websocket([KEY.encode(), QUIET, QUIET]),
    "WebSocket frame 2": lambda: websocket([QUIET, QUIET, QUIET + KEY.encode()]),
    "the close reason": lambda: websocket([QUIET], close_reason=f"bye {KEY}"),
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("read_first", [True, False], ids=["answer read once", "answer read by the rule"])
def test_a_credential_is_found_in_each_place_alone(place: str, read_first: bool) -> None:
    exchange = PLACES[place]()
    answer = answer_of(exchange) if read_first else None
    findings = list(secret_findings("c.mpk", 0, exchange, CheckOptions(), answer))
    assert [f.message.split(" hold")[0] for f in findings] == [place.removesuffix(" (gzip)")], findings
    assert "GitHub Token (ghp_a1B" in findings[0].message


def test_a_place_is_named_right_after_credential_headers_the_look_leaves_out() -> None:
    exchange = http(request_headers=[("authorization", "Bearer [REDACTED]"), ("x-forwarded-token", KEY)],
                    response_headers=[("set-cookie", "[REDACTED]"), ("x-echo", KEY)])
    (finding,) = secret_findings("c.mpk", 0, exchange, CheckOptions())
    assert finding.message.startswith("the request header 'x-forwarded-token', the response header 'x-echo' hold")


def test_one_credential_in_many_places_is_one_finding_naming_them() -> None:
    exchange = http(request_body=KEY.encode(), response_headers=[("x-echo", KEY)], response_body=KEY.encode())
    (finding,) = secret_findings("c.mpk", 0, exchange, CheckOptions())
    assert finding.message.startswith("the request body, the response header 'x-echo', the response body hold a "
                                      "credential: GitHub Token")


def test_nothing_is_found_in_an_exchange_holding_no_credential() -> None:
    near = b"ghp_short sk-nope AKIA eyJ.eyJ. Bearer YOUR_TOKEN_HERE -----BEGIN PUBLIC KEY-----"
    for exchange in (http(request_body=near, response_body=QUIET + near), websocket([near, QUIET])):
        assert list(secret_findings("c.mpk", 0, exchange, CheckOptions())) == []


def test_a_redact_regex_is_looked_for_in_each_place_though_no_shape_is_there() -> None:
    options = CheckOptions(redact=Rules().with_rules(["regex:ACME-[0-9]{4}"]))
    findings = list(secret_findings("c.mpk", 0, websocket([QUIET, b"id ACME-1234"]), options))
    assert [f.message.split(" holds")[0] for f in findings] == ["WebSocket frame 1"]
