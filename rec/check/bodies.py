"""Bodies as a client read them, their Content-Encoding undone: what the `streams` and `secrets` rules look at."""

from __future__ import annotations

from rec.cassette import Exchange, HttpExchange, WebSocketExchange
from rec.encoding import ContentEncodingError, decode_body


def decoded(data: bytes, encoding: str | None) -> bytes:
    """``data`` with its Content-Encoding undone; as recorded when it does not decode (the rules still read it)."""
    if not encoding:  # most bodies: nothing to undo
        return data
    try:
        return decode_body(data, encoding)
    except ContentEncodingError:
        return data


def answer_of(exchange: Exchange) -> bytes | None:
    """The response body as the client read it; None when no response came back. Read once per exchange and
    handed to each rule (joining an answer's chunks is a good part of what a rule costs)."""
    if not isinstance(exchange, HttpExchange | WebSocketExchange) or exchange.response is None:
        return None
    return decoded(exchange.response.body, exchange.response.header("content-encoding"))
