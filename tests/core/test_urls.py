"""rec.urls: an origin as rec prints it, with an IPv6 address in brackets."""

from __future__ import annotations

from rec.urls import origin


def test_an_origin_brackets_ipv6_and_only_ipv6() -> None:
    assert origin("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert origin("::1", 8080) == "http://[::1]:8080"
    assert origin("api.openai.com", None, "https") == "https://api.openai.com"
