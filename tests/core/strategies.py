"""Hypothesis strategies for cassette records."""

from __future__ import annotations

from hypothesis import strategies as st

from rec.cassette import Close, End, Frame, Header, HttpExchange, Request, Response, WebSocketExchange

text = st.text(max_size=20)
query_pairs = st.lists(st.tuples(st.text(min_size=1, max_size=12), text), max_size=4)
# Header text goes on a line of its own on the wire: no CR, LF or NUL (a reader refuses them).
line_characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0")
line_text = st.text(line_characters, max_size=20)
header_pairs = st.lists(st.tuples(st.text(line_characters, min_size=1, max_size=12), line_text), max_size=4)
offsets = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
# Unknown fields a newer minor version might add; names never collide with known ones.
extras = st.dictionaries(st.text(min_size=1, max_size=8).map(lambda s: f"x-{s}"),
                         st.one_of(st.integers(-(2**63), 2**63 - 1), text, st.binary(max_size=8)), max_size=2)

requests = st.builds(
    Request,
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    path=st.text(min_size=1, max_size=30).map(lambda s: "/" + s),
    query=query_pairs,
    headers=header_pairs,
    body=st.binary(max_size=64),
    decoded_body=st.none() | st.binary(max_size=64),
    started_at=offsets,
    extra=extras,
)
responses = st.builds(
    Response,
    status=st.integers(100, 599),
    reason=line_text,
    headers=header_pairs,
    chunks=st.lists(st.tuples(offsets, st.binary(max_size=32)), max_size=5),
    extra=extras,
)
ends = st.builds(
    End,
    state=st.sampled_from(["completed", "error"]),
    error=st.none() | st.sampled_from(["reset", "timeout", "cut"]),
    message=text,
    at_ms=offsets,
    extra=extras,
)
http_exchanges = st.builds(HttpExchange, request=requests, response=st.none() | responses, end=ends, extra=extras)
# A text frame carries UTF-8 (RFC 6455); a binary frame any bytes.
frames = st.one_of(
    st.builds(Frame, at_ms=offsets, from_client=st.booleans(), is_text=st.just(True),
              payload=st.text(max_size=16).map(str.encode), extra=extras),
    st.builds(Frame, at_ms=offsets, from_client=st.booleans(), is_text=st.just(False),
              payload=st.binary(max_size=32), extra=extras),
)
closes = st.builds(Close, code=st.none() | st.integers(1000, 4999), reason=text,
                   by=st.sampled_from([None, "client", "server"]), at_ms=offsets, extra=extras)
websocket_exchanges = st.builds(
    WebSocketExchange,
    request=requests,
    response=responses,
    extensions=st.lists(text, max_size=2),
    frames=st.lists(frames, max_size=5),
    close=st.none() | closes,
    extra=extras,
)
exchanges = st.one_of(http_exchanges, websocket_exchanges)
metadata_values = st.one_of(text, st.integers(-(2**63), 2**63 - 1))
headers = st.builds(Header, upstream=st.none() | text,
                    metadata=st.dictionaries(text, metadata_values, max_size=3), extra=extras)
