"""The cassette format: the one module that reads and writes rec cassettes.

A cassette is a stream of zstd frames, each holding one msgpack record: first a
header, then one record per finished exchange. Each record is flushed as its own
frame, so a file cut at any byte still yields the header and every whole exchange
before the cut. See docs/cassette-format.md for the layout.

Unknown keys at any level are kept in ``extra`` and written back, so a cassette
from a newer minor version survives a read/write round trip.
"""

from __future__ import annotations

import array
import dataclasses
import datetime as _dt
import errno
import io
import itertools
import operator
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import msgpack
import msgspec
import zstandard

from rec.locking import CassetteLock

FORMAT_NAME = "rec-cassette"
# 2: every record after the first is compressed with the first as a zstd dictionary (`dictionary` in
# the header); version 1 files (no dictionary) are still read.
# 3: a response holds its body joined and its chunks' times and sizes packed, not a pair per chunk (a
# replayer's first serve of a stream reads no chunk apart); files of versions 1 and 2 are read, and
# appended to in their own version.
FORMAT_VERSION = 3
# The last version whose responses hold their chunks as [time, bytes] pairs.
CHUNK_PAIRS_VERSION = 2
# 1: `websocket_part` records (a WebSocket written turn by turn while it is open).
FORMAT_MINOR_VERSION = 1

# Read in small pieces: each decoded frame hands back its unused tail, so smaller
# reads copy less while still reaching a 10,000-exchange file in well under a second.
_READ_SIZE = 16 * 1024
# The largest record a reader inflates: far above any real exchange, far below what a crafted
# 33 kB frame could claim (a frame states its size up front; rec writes it in every frame).
MAX_RECORD_BYTES = 512 * 1024 * 1024
# A frame that does not state its size (rec never writes one) is inflated only this far.
MAX_UNSIZED_RECORD_BYTES = 16 * 1024 * 1024
# The largest zstd window a frame may ask the reader to hold: rec writes level 3 (a 2 MiB window).
MAX_WINDOW_BYTES = 32 * 1024 * 1024
# What one record may expand to once unpacked: every msgpack value counts one, each list and map one
# more (a WebSocket frame is 9, a chunk of version 2 3; version 3 packs a response's chunks in 3 values). Whatever
# its size, a record may hold MAX_RECORD_VALUES (room for 166,000 frames; about 100 MB of the emptiest objects), far
# below what a few kilobytes of zstd can describe (16 million empty lists are 16 MB of msgpack and 1.2 GB as
# objects). Beyond that, a record may hold VALUES_PER_STORED_BYTE for each byte it takes in the file, so a
# connection of hours merged into one record reads whole: a connection streamed as a model streams (deltas of
# their own, at irregular times) holds about 0.5 value per byte stored, a synthesized one repeating the same
# answer 4.6; only thousands of identical frames at identical times hold more. What a record builds then grows
# with what the file holds (about 350 bytes of the emptiest objects per byte, bench/hostile_bench.py), not with
# what a crafted frame inflates to.
MAX_RECORD_VALUES = 1_500_000
VALUES_PER_STORED_BYTE = 8
# How deep a value rec does not know the shape of (an unknown field, the header's metadata) may nest.
MAX_NESTING = 100
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# The most a zstd frame inflates per byte of input: a 4-byte block of a repeated byte stands for 128 KiB.
_ZSTD_MAX_RATIO = 32 * 1024
_ZSTD_UNKNOWN_SIZE = 2**64 - 1  # a frame's content size when it states none

Headers = list[tuple[str, str]]


class CassetteError(Exception):
    """A file that cannot be read as a cassette; the message is one line for the user."""


class NotACassetteError(CassetteError):
    pass


class NewerVersionError(CassetteError):
    pass


class RecordTooLargeError(ValueError):
    """An exchange bigger than a reader takes (``MAX_RECORD_BYTES``, ``values_bound``): refused, so the cassette
    stays readable."""


class RecordError(ValueError):
    """A record whose field has the wrong type; ``field`` is its path in the record (``response.chunks[2]``)."""

    def __init__(self, field: str, expected: str, value: Any) -> None:
        self._name(field, f"must be {expected}, got {_type_name(value)}")

    def _name(self, field: str, problem: str) -> None:
        ValueError.__init__(self, f"`{field}` {problem}")
        self.field = field


class RecordBoundsError(RecordError):
    """A record that expands past what a reader builds (``MAX_RECORD_VALUES``, ``MAX_NESTING``), by its field."""

    def __init__(self, field: str, problem: str) -> None:
        self._name(field, problem)


class RecordMismatchError(RecordError):
    """A record whose fields disagree: chunk sizes that do not add up to the body, more times than sizes."""

    def __init__(self, field: str, problem: str) -> None:
        self._name(field, problem)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bytes: "bytes", str: "text", bool: "a boolean", int: "a number", float: "a number", list: "a list",
            tuple: "a list", dict: "a map"}.get(type(value), type(value).__name__)


_ARRAY = (list, tuple)  # a msgpack array: a list, or a tuple where unpacked with use_list=False


def _typed(value: Any, kind: type | tuple[type, ...], field: str, expected: str) -> Any:
    # bool is an int in Python; a number field must not take true/false.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                                                else (kind,))):
        raise RecordError(field, expected, value)
    return value


def _map(value: Any, field: str) -> dict[str, Any]:
    return dict(_typed(value, dict, field, "a map"))


def _text(value: Any, field: str) -> str:
    return str(_typed(value, str, field, "text"))


def _bytes(value: Any, field: str) -> bytes:
    return bytes(_typed(value, bytes, field, "bytes"))


def _number(value: Any, field: str) -> float:
    return float(_typed(value, (int, float), field, "a number"))


def _optional(value: Any, read: Any, field: str) -> Any:
    return None if value is None else read(value, field)


@dataclass
class Header:
    """The first record: what wrote the cassette, when, and from where."""

    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat())
    rec_version: str = ""
    upstream: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION
    minor_version: int = FORMAT_MINOR_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rec_version:
            from rec import __version__

            self.rec_version = __version__

    def to_record(self) -> dict[str, Any]:
        return {
            **self.extra,
            "type": "header",
            "format": FORMAT_NAME,
            "version": self.version,
            "minor_version": self.minor_version,
            "created_at": self.created_at,
            "rec_version": self.rec_version,
            "upstream": self.upstream,
            "metadata": self.metadata,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Header:
        rest = dict(record)
        for key in ("type", "format"):
            rest.pop(key, None)
        return cls(
            version=_typed(rest.pop("version", None), int, "header.version", "a whole number"),
            minor_version=_typed(rest.pop("minor_version", 0), int, "header.minor_version", "a whole number"),
            created_at=_text(rest.pop("created_at", "") or "", "header.created_at"),
            rec_version=_text(rest.pop("rec_version", "") or "unknown", "header.rec_version"),
            upstream=_optional(rest.pop("upstream", None), _text, "header.upstream"),
            metadata=_free_form(_map(rest.pop("metadata", {}) or {}, "header.metadata"), "header.metadata"),
            extra=_extra(rest, "header"),
        )


def _pairs(value: Any, field: str, read_name: Callable[[Any, str], str] = _text,
           read_value: Callable[[Any, str], str] = _text) -> list[tuple[str, str]]:
    pairs = []
    for n, pair in enumerate(_typed(value or [], _ARRAY, field, "a list of [name, value] pairs")):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise RecordError(f"{field}[{n}]", "a [name, value] pair", pair)
        pairs.append((read_name(pair[0], f"{field}[{n}][0]"), read_value(pair[1], f"{field}[{n}][1]")))
    return pairs


# A CR or LF in a header ends its line on the wire (what follows would be another header), and a NUL is
# refused by every HTTP parser: neither can come from a recording (RFC 9110 5.5), so neither is served.
_LINE_BREAKS = re.compile("[\r\n\0]")


# An obsolete line folding (RFC 9112 5.2: CRLF, then spaces or tabs) continues a header's value on the next line;
# mitmproxy keeps it inside the value it reads ("a\r\n b"), so the recording of a server that folds holds one.
_OBS_FOLD = re.compile("\r\n[ \t]+")


def _header_text(value: Any, field: str) -> str:
    """Text that goes on a header line (a name, a value, a reason phrase): no CR, LF or NUL."""
    text = _text(value, field)
    if _LINE_BREAKS.search(text):
        raise RecordError(field, "header text without CR, LF or NUL", text)
    return text


def _header_value(value: Any, field: str) -> str:
    """A header's value: a folded one read as one line, each folding a space as RFC 9112 tells a recipient to;
    then header text."""
    text = _text(value, field)
    return _header_text(_OBS_FOLD.sub(" ", text) if "\r" in text else text, field)


@dataclass
class Request:
    """An HTTP request (or a WebSocket handshake request) as the client sent it."""

    method: str
    path: str
    query: Headers = field(default_factory=list)
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    # The body after Content-Encoding (zstd, gzip, deflate, br) was undone; None when
    # the body was not encoded or could not be decoded.
    decoded_body: bytes | None = None
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    @property
    def content(self) -> bytes:
        """The body as the application sees it (decoded when it was encoded)."""
        return self.body if self.decoded_body is None else self.decoded_body

    def to_record(self) -> dict[str, Any]:
        return {
            **self.extra,
            "method": self.method,
            "path": self.path,
            "query": [list(p) for p in self.query],
            "headers": [list(p) for p in self.headers],
            "body": self.body,
            "decoded_body": self.decoded_body,
            "started_at": self.started_at,
        }

    @classmethod
    def from_record(cls, record: Any, field: str = "request") -> Request:
        rest = _map(record, field)
        return cls(
            method=_text(rest.pop("method", None), f"{field}.method"),
            path=_text(rest.pop("path", None), f"{field}.path"),
            query=_pairs(rest.pop("query", []), f"{field}.query"),
            headers=_pairs(rest.pop("headers", []), f"{field}.headers", _header_text, _header_value),
            body=_bytes(rest.pop("body", b"") or b"", f"{field}.body"),
            decoded_body=_optional(rest.pop("decoded_body", None), _bytes, f"{field}.decoded_body"),
            started_at=_number(rest.pop("started_at", 0.0), f"{field}.started_at"),
            extra=_extra(rest, field),
        )


class Response:
    """An HTTP response: status, headers, and the body as timed chunks.

    ``chunks`` holds (milliseconds since the request started, bytes) in the order
    they came off the wire, so an SSE stream keeps its chunk boundaries and pacing.
    A response read from a cassette of version 3 holds its body joined and its chunk
    times and sizes packed: ``body`` is ready as stored, and the chunks are cut out of
    it only when asked for (pacing, faults, a view of each chunk). A replayer's first
    serve of a stream needs the body alone.
    """

    __slots__ = ("_body", "_chunks", "_sizes", "_times", "extra", "headers", "reason", "status")

    def __init__(self, status: int, reason: str = "", headers: Headers | None = None,
                 chunks: list[tuple[float, bytes]] | None = None, extra: dict[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.headers: Headers = [] if headers is None else headers
        self.extra: dict[str, Any] = {} if extra is None else extra
        self._chunks: list[tuple[float, bytes]] | None = [] if chunks is None else chunks
        # The joined form, while the chunks are not built: the body, each chunk's time and size.
        self._body: bytes | None = None
        self._times: array.array[float] | None = None
        self._sizes: array.array[int] | None = None

    @classmethod
    def joined(cls, status: int, reason: str, headers: Headers, body: bytes, times: array.array[float],
               sizes: array.array[int], extra: dict[str, Any] | None = None) -> Response:
        """A response from its body and its chunks' times and sizes (``sizes`` add up to the body's length)."""
        response = cls(status, reason, headers, None, extra)
        response._chunks, response._body, response._times, response._sizes = None, body, times, sizes
        return response

    @property
    def chunks(self) -> list[tuple[float, bytes]]:
        if self._chunks is None:
            assert self._body is not None and self._times is not None and self._sizes is not None
            body, ends = self._body, itertools.accumulate(self._sizes, initial=0)
            # Built once; from now on the chunks are the response (a caller may change them), as when given.
            self._chunks = [(at, body[start:stop])
                            for at, (start, stop) in zip(self._times, itertools.pairwise(ends), strict=True)]
            self._body = self._times = self._sizes = None
        return self._chunks

    @chunks.setter
    def chunks(self, chunks: list[tuple[float, bytes]]) -> None:
        self._chunks, self._body, self._times, self._sizes = chunks, None, None, None

    @property
    def body(self) -> bytes:
        if self._body is not None:
            return self._body
        return b"".join(map(_DATA, self.chunks))  # one loop in C over hundreds of chunks

    @property
    def body_size(self) -> int:
        """The body's length, without joining chunks to learn it."""
        return len(self._body) if self._body is not None else sum(map(len, map(_DATA, self.chunks)))

    @property
    def chunk_count(self) -> int:
        return len(self._sizes) if self._sizes is not None else len(self.chunks)

    @property
    def last_chunk_ms(self) -> float | None:
        """When the last chunk came; None for a response with no chunks."""
        if self._times is not None:
            return self._times[-1] if self._times else None
        return self.chunks[-1][0] if self.chunks else None

    def with_chunks(self, chunks: list[tuple[float, bytes]]) -> Response:
        """This response with other chunks (its status, reason, headers and unknown keys as they are)."""
        return Response(self.status, self.reason, self.headers, chunks, self.extra)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.reason, self.headers, self.chunks, self.extra) == (
            other.status, other.reason, other.headers, other.chunks, other.extra)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass is

    def __repr__(self) -> str:
        return (f"Response(status={self.status!r}, reason={self.reason!r}, headers={self.headers!r}, "
                f"chunks={self.chunks!r}, extra={self.extra!r})")

    def to_record(self, chunk_pairs: bool = False) -> dict[str, Any]:
        """The record of this response; ``chunk_pairs``: as versions 1 and 2 hold it (a file of theirs appended to)."""
        record = {**self.extra, "status": self.status, "reason": self.reason,
                  "headers": [list(p) for p in self.headers]}
        if chunk_pairs:
            record["chunks"] = [[at, data] for at, data in self.chunks]
        elif self._sizes is not None:  # as read: written back as it came
            assert self._times is not None
            if self._sizes:
                record.update(body=self._body, chunk_ms=_packed(self._times), chunk_sizes=_packed(self._sizes))
        elif self.chunks:
            record.update(body=self.body, chunk_ms=_packed(array.array("d", map(_OFFSET, self.chunks))),
                          chunk_sizes=_packed(array.array(_SIZE_CODE, map(len, map(_DATA, self.chunks)))))
        return record

    @classmethod
    def from_record(cls, record: Any, field: str = "response") -> Response:
        rest = _map(record, field)
        status = _typed(rest.pop("status", None), int, f"{field}.status", "a whole number")
        if not 100 <= status <= 599:  # RFC 9110 15: a status code is 100 to 599
            raise RecordError(f"{field}.status", "a status from 100 to 599", status)
        reason = _header_text(rest.pop("reason", "") or "", f"{field}.reason")
        headers = _pairs(rest.pop("headers", []), f"{field}.headers", _header_text, _header_value)
        if "chunks" not in rest:  # version 3: the body joined, its chunks' times and sizes packed
            body = _bytes(rest.pop("body", b""), f"{field}.body")
            times, sizes = _chunk_times_sizes(rest.pop("chunk_ms", b""), rest.pop("chunk_sizes", b""), body, field)
            return cls.joined(status, reason, headers, body, times, sizes, _extra(rest, field))
        if _JOINED_KEYS & rest.keys():
            raise RecordMismatchError(f"{field}.chunks", "is there beside `body`, `chunk_ms` or `chunk_sizes`: a "
                                      "response holds its chunks one way or the other")
        recorded = _typed(rest.pop("chunks"), _ARRAY, f"{field}.chunks", "a list")
        # The common shape checked in one pass (a large cassette of version 2 holds millions of chunks), any other
        # shape by _chunk.
        chunks = _tuple_chunks(recorded)
        if chunks is None:
            chunks = [(float(c[0]), c[1]) if type(c) is list and len(c) == 2 and type(c[1]) is bytes
                      and type(c[0]) in _OFFSET_TYPES else _chunk(recorded, c, f"{field}.chunks") for c in recorded]
        return cls(status, reason, headers, chunks, _extra(rest, field))


# Chunk times are packed as little-endian 64-bit floats, chunk sizes as little-endian 32-bit unsigned integers.
_SIZE_CODE = "I"
_JOINED_KEYS = frozenset({"body", "chunk_ms", "chunk_sizes"})
_BIG_ENDIAN = sys.byteorder == "big"


def _packed(values: array.array[Any]) -> bytes:
    if _BIG_ENDIAN:
        values = array.array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _unpacked(data: Any, code: str, field: str, unit: str) -> array.array[Any]:
    values = array.array(code)
    if type(data) is not bytes:
        raise RecordError(field, "bytes", data)
    if len(data) % values.itemsize:
        raise RecordMismatchError(field, f"holds {len(data)} bytes, not a whole number of {values.itemsize}-byte "
                                  f"{unit}")
    values.frombytes(data)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def _chunk_times_sizes(times: Any, sizes: Any, body: bytes, field: str,
                       ) -> tuple[array.array[float], array.array[int]]:
    """A version 3 response's chunk times and sizes, checked against each other and its body."""
    unpacked_times = _unpacked(times, "d", f"{field}.chunk_ms", "times")
    unpacked_sizes = _unpacked(sizes, _SIZE_CODE, f"{field}.chunk_sizes", "sizes")
    if len(unpacked_times) != len(unpacked_sizes):
        raise RecordMismatchError(f"{field}.chunk_ms", f"holds {len(unpacked_times)} chunk times, but `chunk_sizes` "
                                  f"holds {len(unpacked_sizes)} sizes")
    if sum(unpacked_sizes) != len(body):
        raise RecordMismatchError(f"{field}.chunk_sizes", f"add up to {sum(unpacked_sizes)} bytes, but `body` "
                                  f"holds {len(body)}")
    return unpacked_times, unpacked_sizes


_OFFSET_TYPES = (float, int)
_FLOAT, _BYTES, _TUPLE, _PAIR = frozenset({float}), frozenset({bytes}), frozenset({tuple}), frozenset({2})
_OFFSET, _DATA = operator.itemgetter(0), operator.itemgetter(1)


def _tuple_chunks(recorded: Any) -> list[tuple[float, bytes]] | None:
    """Chunks unpacked as tuples (``IndexedRecord``), each of (float, bytes), checked by loops in C and kept as
    they are; None for any other shape."""
    if (type(recorded) is tuple and set(map(type, recorded)) <= _TUPLE and set(map(len, recorded)) <= _PAIR
            and set(map(type, map(_OFFSET, recorded))) <= _FLOAT and set(map(type, map(_DATA, recorded))) <= _BYTES):
        return list(recorded)
    return None


def _chunk(chunks: list[Any], chunk: Any, field: str) -> tuple[float, bytes]:
    """A chunk not of the common shape: checked field by field; RecordError names it by its position."""
    n = next(n for n, other in enumerate(chunks) if other is chunk)
    if not isinstance(chunk, list | tuple) or len(chunk) != 2:
        raise RecordError(f"{field}[{n}]", "an [offset_ms, bytes] pair", chunk)
    return _number(chunk[0], f"{field}[{n}][0]"), _bytes(chunk[1], f"{field}[{n}][1]")


EndState = Literal["completed", "error"]


@dataclass
class End:
    """How an exchange ended: completed, or the error that ended it and when."""

    state: EndState = "completed"
    # A short kind for errors ("reset", "timeout", "upstream_unreachable", ...).
    error: str | None = None
    message: str = ""
    at_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            **self.extra,
            "state": self.state,
            "error": self.error,
            "message": self.message,
            "at_ms": self.at_ms,
        }

    @classmethod
    def from_record(cls, record: Any, field: str = "end") -> End:
        rest = _map(record, field)
        state = rest.pop("state", "completed")
        if state not in ("completed", "error"):
            raise RecordError(f"{field}.state", '"completed" or "error"', state)
        return cls(
            state=state,
            error=_optional(rest.pop("error", None), _text, f"{field}.error"),
            message=_text(rest.pop("message", "") or "", f"{field}.message"),
            at_ms=_number(rest.pop("at_ms", 0.0), f"{field}.at_ms"),
            extra=_extra(rest, field),
        )


@dataclass
class HttpExchange:
    """One HTTP request and its response; ``response`` is None when none came back."""

    request: Request
    response: Response | None
    end: End = field(default_factory=End)
    extra: dict[str, Any] = field(default_factory=dict)
    kind: Literal["http"] = "http"

    @property
    def duration_ms(self) -> float:
        last_chunk = self.response.last_chunk_ms if self.response else None
        return max(self.end.at_ms, last_chunk or 0.0)

    def to_record(self, chunk_pairs: bool = False) -> dict[str, Any]:
        return {
            **self.extra,
            "type": "http",
            "request": self.request.to_record(),
            "response": self.response.to_record(chunk_pairs) if self.response else None,
            "end": self.end.to_record(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> HttpExchange:
        rest = dict(record)
        rest.pop("type", None)
        response = rest.pop("response", None)
        return cls(
            request=Request.from_record(rest.pop("request", None)),
            response=Response.from_record(response) if response is not None else None,
            end=End.from_record(rest.pop("end", {}) or {}),
            extra=_extra(rest, ""),
        )


@dataclass
class Frame:
    """One WebSocket message, after permessage-deflate was undone."""

    at_ms: float
    from_client: bool
    is_text: bool
    payload: bytes
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            **self.extra,
            "at_ms": self.at_ms,
            "from_client": self.from_client,
            "text": self.is_text,
            "payload": self.payload,
        }

    @classmethod
    def from_record(cls, record: Any, field: str = "frame") -> Frame:
        rest = _map(record, field)
        is_text = _typed(rest.pop("text", None), bool, f"{field}.text", "true or false")
        payload = _bytes(rest.pop("payload", None), f"{field}.payload")
        if is_text:
            try:
                payload.decode()
            except UnicodeDecodeError:
                raise RecordError(f"{field}.payload", "UTF-8 in a text frame", payload) from None
        return cls(
            at_ms=_number(rest.pop("at_ms", None), f"{field}.at_ms"),
            from_client=_typed(rest.pop("from_client", None), bool, f"{field}.from_client", "true or false"),
            is_text=is_text,
            payload=payload,
            extra=_extra(rest, field),
        )


@dataclass
class Close:
    """How a WebSocket ended: the close code and reason, who closed, and when."""

    code: int | None = 1000
    reason: str = ""
    by: Literal["client", "server"] | None = None
    at_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {**self.extra, "code": self.code, "reason": self.reason, "by": self.by, "at_ms": self.at_ms}

    @classmethod
    def from_record(cls, record: Any, field: str = "close") -> Close:
        rest = _map(record, field)
        code = _optional(rest.pop("code", None), lambda v, f: _typed(v, int, f, "a close code"), f"{field}.code")
        if code is not None and not 1000 <= code <= 4999:
            raise RecordError(f"{field}.code", "a close code from 1000 to 4999", code)
        by = rest.pop("by", None)
        if by not in ("client", "server", None):
            raise RecordError(f"{field}.by", '"client" or "server"', by)
        return cls(
            code=code,
            reason=_text(rest.pop("reason", "") or "", f"{field}.reason"),
            by=by,
            at_ms=_number(rest.pop("at_ms", 0.0), f"{field}.at_ms"),
            extra=_extra(rest, field),
        )


# A synthesized WebSocket's wait before the replayer accepts it (``extra``): tests of a connection still opening.
ACCEPT_DELAY_KEY = "accept_delay_ms"
_MAX_ACCEPT_DELAY_MS = 3_600_000.0


@dataclass
class WebSocketExchange:
    """One WebSocket connection: its handshake, every frame both ways, and the close."""

    request: Request
    response: Response
    extensions: list[str] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    close: Close | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kind: Literal["websocket"] = "websocket"

    @property
    def duration_ms(self) -> float:
        last_frame = self.frames[-1].at_ms if self.frames else 0.0
        return max(self.close.at_ms if self.close else 0.0, last_frame)

    def to_record(self, chunk_pairs: bool = False) -> dict[str, Any]:
        return {
            **self.extra,
            "type": "websocket",
            "request": self.request.to_record(),
            "response": self.response.to_record(chunk_pairs),
            "extensions": list(self.extensions),
            "frames": [f.to_record() for f in self.frames],
            "close": self.close.to_record() if self.close else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WebSocketExchange:
        rest = dict(record)
        rest.pop("type", None)
        close = rest.pop("close", None)
        frames = _typed(rest.pop("frames", []), _ARRAY, "frames", "a list")
        if ACCEPT_DELAY_KEY in rest:  # the replayer waits this long before accepting
            delay = _number(rest[ACCEPT_DELAY_KEY], ACCEPT_DELAY_KEY)
            if not 0 <= delay <= _MAX_ACCEPT_DELAY_MS:
                raise RecordError(ACCEPT_DELAY_KEY, f"milliseconds from 0 to {_MAX_ACCEPT_DELAY_MS:.0f}", delay)
        return cls(
            request=Request.from_record(rest.pop("request", None)),
            response=Response.from_record(rest.pop("response", None)),
            extensions=[_text(e, f"extensions[{n}]") for n, e in
                        enumerate(_typed(rest.pop("extensions", []) or [], _ARRAY, "extensions", "a list of text"))],
            frames=[Frame.from_record(f, f"frames[{n}]") for n, f in enumerate(frames)],
            close=Close.from_record(close) if close is not None else None,
            extra=_extra(rest, ""),
        )


@dataclass
class UnknownRecord:
    """A record of a type this version does not know (from a newer minor version); kept as is."""

    record: dict[str, Any]
    kind: str = "unknown"

    def to_record(self) -> dict[str, Any]:
        return self.record


@dataclass
class WebSocketPart:
    """Part of a WebSocket connection written while it was still open (a recorder appends each finished turn).

    ``exchange`` holds the handshake on every part, the frames new since the previous part,
    and on the ``final`` part the close. A reader merges the parts of a ``connection`` into
    one WebSocketExchange, placed where its final part is; a connection whose final part
    never came (the recorder was killed) ends with its last whole part.
    """

    connection: str
    exchange: WebSocketExchange
    final: bool = False

    def to_record(self, chunk_pairs: bool = False) -> dict[str, Any]:
        return {**self.exchange.to_record(chunk_pairs), "type": "websocket_part", "connection": self.connection,
                "final": self.final}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WebSocketPart:
        rest = dict(record)
        connection = _text(rest.pop("connection", None), "connection")
        final = _typed(rest.pop("final", False), bool, "final", "true or false")
        return cls(connection, WebSocketExchange.from_record(rest), final)


Exchange = HttpExchange | WebSocketExchange | UnknownRecord


def record_with_chunk_pairs(exchange: Exchange | WebSocketPart) -> dict[str, Any]:
    """The exchange's record with its response's chunks as [time, bytes] pairs: as versions 1 and 2 hold it, and
    as a person reads it (``rec show --json``)."""
    return exchange.to_record() if isinstance(exchange, UnknownRecord) else exchange.to_record(chunk_pairs=True)


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of a header, matched case-insensitively."""
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None


def exchange_from_record(record: Any) -> Exchange:
    """The exchange a record holds; RecordError names the first field of the wrong type."""
    if not isinstance(record, dict):
        raise RecordError("record", "a map", record)
    kind = record.get("type")
    if kind == "http":
        return HttpExchange.from_record(record)
    if kind == "websocket":
        return WebSocketExchange.from_record(record)
    if kind == "websocket_part":
        return WebSocketPart.from_record(record)  # type: ignore[return-value]  # merged by the reader
    return UnknownRecord(_free_form(record, "record"), kind=str(kind)[:80])


# --- writing ---------------------------------------------------------------------------


# The header's `dictionary` value for "the first record after the header is every later frame's dictionary".
FIRST_RECORD_DICTIONARY = "first-record"


def _dictionary(payload: bytes) -> zstandard.ZstdCompressionDict:
    """The raw content of a record as a zstd dictionary: later records share its instructions, tools, shapes."""
    return zstandard.ZstdCompressionDict(payload, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def _compressor(dictionary: bytes | None = None) -> zstandard.ZstdCompressor:
    # The checksum lets a reader tell a torn frame from a whole one; the dictionary is implied, not named.
    return zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True, write_dict_id=False,
                                    dict_data=_dictionary(dictionary) if dictionary else None)


class CassetteWriter:
    """Appends exchanges to a cassette, one flushed zstd frame each.

    A process killed at any point leaves a readable cassette holding every exchange
    that ``append`` returned for. A writer opened on a path holds the cassette's lock
    (``rec.locking``) until it is closed: one writer per cassette at a time. A write the disk
    refuses (full, over a size limit) raises OSError after cutting the file back to its last
    whole record, so a torn frame never hides the records appended after it; a record a reader
    would refuse is never written.
    """

    def __init__(self, stream: IO[bytes], dictionary: bytes | None = None, lock: CassetteLock | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES, version: int = FORMAT_VERSION) -> None:
        self._stream = stream
        self._version = version  # a file of an older version is appended to in its own
        self.max_record_bytes = max_record_bytes
        self._broken: str | None = None  # why the file could not be cut back after a failed write
        self._compressor = _compressor(dictionary)
        self._lock = lock
        # Until the first record is written (a new cassette), it becomes the dictionary of the rest.
        self._needs_dictionary = False

    @classmethod
    def create(cls, path: str | os.PathLike[str], header: Header, wait: bool = True) -> CassetteWriter:
        """Start a new cassette at ``path`` and write its header.

        The file is made fresh beside ``path`` and renamed over it before anything else is
        written: whatever was at ``path`` (a symlink planted there included) is replaced,
        never written through, and appends go on to the file now at ``path``. Another
        writer of ``path`` is waited for, or with ``wait`` False is CassetteLocked.
        """
        target = Path(path)
        lock = CassetteLock(target).acquire(wait)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except BaseException:
            lock.release()
            raise
        stream = os.fdopen(fd, "wb", buffering=0)  # unbuffered: a failed write leaves nothing to flush later
        try:
            os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would surprise a user sharing the folder
            writer = cls(stream, lock=lock)
            writer._write_header(header)
            os.replace(tmp_name, target)
        except BaseException:
            stream.close()
            Path(tmp_name).unlink(missing_ok=True)
            lock.release()
            raise
        return writer

    @classmethod
    def append_to(cls, path: str | os.PathLike[str], locked: bool = False) -> CassetteWriter:
        """Open an existing cassette for appending, once no other writer holds it (``locked``: the caller holds
        the cassette's lock already); a torn last record is cut off first."""
        lock = None if locked else CassetteLock(path).acquire()
        try:
            with CassetteReader(path) as reader:
                for _ in reader:
                    pass
                whole_bytes = reader.whole_bytes
                dictionary, wants_one = reader.dictionary, reader.header.extra.get("dictionary") is not None
                version = reader.header.version
            stream = open(path, "r+b", buffering=0)  # noqa: SIM115 - closed by close(); unbuffered as in create()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        stream.truncate(whole_bytes)
        stream.seek(whole_bytes)
        writer = cls(stream, dictionary, lock, version=version)
        writer._needs_dictionary = wants_one and dictionary is None  # a cassette with its header only
        return writer

    def append(self, exchange: Exchange | WebSocketPart) -> None:
        """Write one exchange (or one part of an open WebSocket) and flush it to the file."""
        self._write(record_with_chunk_pairs(exchange) if self._version <= CHUNK_PAIRS_VERSION
                    else exchange.to_record())

    def _write_header(self, header: Header) -> None:
        header.version = self._version
        header.extra = {**header.extra, "dictionary": FIRST_RECORD_DICTIONARY}
        self._write(header.to_record())
        self._needs_dictionary = True

    def _write(self, record: dict[str, Any]) -> None:
        if self._broken is not None:
            raise OSError(f"the cassette could not be cut back after an earlier failed write ({self._broken})")
        payload = msgpack.packb(record, use_bin_type=True)
        if len(payload) > self.max_record_bytes:
            raise RecordTooLargeError(f"the exchange is {len(payload)} bytes as a record, over the "
                                      f"{self.max_record_bytes} a cassette reader takes; it was not written")
        frame = self._compressor.compress(payload)
        if 2 * len(payload) > values_bound(len(frame)):  # a record that may hold more values than a reader builds
            try:
                unpack_record(payload, stored_bytes=len(frame))
            except RecordBoundsError as err:
                raise RecordTooLargeError(f"the exchange was not written: {err}") from None
        start = self._stream.tell()
        try:
            view = memoryview(frame)
            while view:  # an unbuffered file can take part of a write and refuse the rest on the next
                written = self._stream.write(view)
                if not written:
                    raise OSError(errno.EIO, "the file took none of the bytes written")
                view = view[written:]
            self._stream.flush()
        except OSError:
            self._cut_back(start)
            raise
        if self._needs_dictionary and record.get("type") != "header":
            self._needs_dictionary = False
            self._compressor = _compressor(payload)

    def _cut_back(self, whole_bytes: int) -> None:
        """Drop a torn frame: the file ends at its last whole record again (shrinking needs no space)."""
        try:
            self._stream.truncate(whole_bytes)
            self._stream.seek(whole_bytes)
        except OSError as err:
            self._broken = err.strerror or str(err)

    def close(self) -> None:
        if self._stream.closed:
            return
        try:
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_cassette(path: str | os.PathLike[str], header: Header, exchanges: Iterable[Exchange],
                   version: int = FORMAT_VERSION) -> None:
    """Write a whole cassette atomically: a temporary file in the same folder, then a rename (once no other
    writer holds the cassette). ``version`` 2 writes what an older rec reads (a response's chunks as pairs)."""
    target = Path(path)
    with CassetteLock(target):
        _write_whole(target, header, exchanges, version)


def _write_whole(target: Path, header: Header, exchanges: Iterable[Exchange], version: int) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        os.chmod(tmp_name, 0o644)  # as a file written in place would be, not mkstemp's 0600
        with os.fdopen(fd, "wb") as stream:
            writer = CassetteWriter(stream, version=version)
            writer._write_header(header)
            for exchange in exchanges:
                writer.append(exchange)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


# --- unpacking within bounds -------------------------------------------------------------


class _TooManyValues(Exception):
    pass


def values_bound(stored_bytes: int) -> int:
    """How many values a record may expand to, given the bytes it takes in the file (``MAX_RECORD_VALUES``)."""
    return max(MAX_RECORD_VALUES, VALUES_PER_STORED_BYTE * stored_bytes)


def _counting_hooks(bound: int) -> dict[str, Any]:
    """msgpack hooks that count the values built so far and stop past ``bound``.

    msgpack builds a list's items before the list, so each hook sees a finished list or map; the
    longest one it may announce is capped too, so nothing is allocated for a claimed length.
    """
    left = bound

    def counted_list(value: list[Any]) -> list[Any]:
        nonlocal left
        left -= len(value) + 1
        if left < 0:
            raise _TooManyValues
        return value

    def counted_map(value: dict[Any, Any]) -> dict[Any, Any]:
        nonlocal left
        left -= 2 * len(value) + 1
        if left < 0:
            raise _TooManyValues
        return value

    return {"list_hook": counted_list, "object_hook": counted_map, "max_array_len": bound, "max_map_len": bound}


def _too_much(err: BaseException, bound: int) -> str | None:
    """What an unpacking error says of a record that expands too far; None for a record that is not msgpack."""
    # msgpack refuses a list or map announcing more than max_array_len / max_map_len with this ValueError.
    if isinstance(err, _TooManyValues) or (isinstance(err, ValueError) and "exceeds max_" in str(err)):
        return f"holds over {bound:,} values, more than a record of its size may expand to"
    if isinstance(err, msgpack.StackError):
        return "nests deeper than msgpack reads"
    return None


def unpack_record(payload: bytes, use_list: bool = True, stored_bytes: int = 0) -> Any:
    """A record's msgpack as Python values, built only within ``values_bound(stored_bytes)``.

    RecordBoundsError names the field that expands too far; any other error means the bytes are
    not msgpack (a reader treats the record as damage).
    """
    bound = values_bound(stored_bytes)
    # Each value takes a byte at least, and counts two at most: a short record cannot hold too many.
    if 2 * len(payload) <= bound:
        try:
            return msgpack.unpackb(payload, raw=False, strict_map_key=False, use_list=use_list)
        except Exception as err:
            if _too_much(err, bound) is None:
                raise
            # Read again, field by field, to name the field that nests too deep or claims too many values.
    return _unpack_by_field(payload, use_list, bound)


def _unpack_by_field(payload: bytes, use_list: bool, bound: int) -> Any:
    """Unpack a record counting its values, the maps of its first two levels field by field, so a record that
    expands too far is refused in the same pass that finds its field (``response.chunks``)."""
    hooks = _counting_hooks(bound)
    unpacker = msgpack.Unpacker(io.BytesIO(payload), raw=False, strict_map_key=False, use_list=use_list,
                                max_buffer_size=max(len(payload), 1), **hooks)
    spend_map = hooks["object_hook"]
    found = "record"

    def walk(field: str, depth: int) -> Any:
        nonlocal found
        found = field
        kind = payload[unpacker.tell()] if unpacker.tell() < len(payload) else None
        if depth < 2 and kind is not None and (kind >> 4 == 0x8 or kind in (0xDE, 0xDF)):  # fixmap, map 16, map 32
            count = unpacker.read_map_header()
            if count > bound:
                raise _TooManyValues
            fields = {}
            for _ in range(count):
                key = unpacker.unpack()
                fields[key] = walk(f"{field}.{key}" if field != "record" else str(key), depth + 1)
            return spend_map(fields)  # counted as msgpack counts the maps it builds
        return unpacker.unpack()

    try:
        record = walk("record", 0)
    except Exception as err:
        problem = _too_much(err, bound)
        if problem is None:
            raise
        raise RecordBoundsError(found[:80], problem) from None
    if unpacker.tell() != len(payload):
        raise msgpack.ExtraData(record, payload[unpacker.tell():])
    return record


def _free_form(value: Any, field: str) -> Any:
    """A value rec does not know the shape of, checked to nest no deeper than ``MAX_NESTING`` (walked, not
    recursed: showing it, writing it back or comparing it must not meet a recursion limit)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list | tuple):
            continue
        if depth >= MAX_NESTING:
            raise RecordBoundsError(field, f"nests deeper than {MAX_NESTING} levels")
        stack.extend((child, depth + 1) for child in item)
    return value


def _extra(rest: dict[str, Any], field: str) -> dict[str, Any]:
    """The fields of a record this version does not know, kept as they are (once checked by ``_free_form``)."""
    for key, value in rest.items():
        if isinstance(value, list | tuple | dict):
            _free_form(value, f"{field}.{key}" if field else str(key))
    return rest


# --- reading ---------------------------------------------------------------------------


@dataclass
class Damage:
    """What a reader had to drop at the end of a cut or corrupt cassette."""

    offset: int
    dropped_bytes: int
    reason: str

    def describe(self) -> str:
        return f"{self.reason} at byte {self.offset}: dropped the last {self.dropped_bytes} bytes"


def bad_record(path: str | os.PathLike[str], number: int, offset: int | None, err: RecordError) -> CassetteError:
    """The one-line error for a record a reader refuses, naming the exchange and the field."""
    where = f" (the record at byte {offset})" if offset is not None else ""
    return CassetteError(f"{path}: exchange #{number}{where}: {err}; the file was not written by rec or was changed "
                         "by hand")


class _FrameError(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class CassetteReader:
    """Reads a cassette lazily: the header at once, exchanges one at a time.

    Iterating yields every whole exchange; a cut or corrupt tail ends the iteration
    and is described in ``damage`` (the file's whole records are never lost).
    """

    def __init__(self, path: str | os.PathLike[str], max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self.path = Path(path)
        self.max_record_bytes = max_record_bytes
        self.damage: Damage | None = None
        self.whole_bytes = 0
        self.dictionary: bytes | None = None  # the first record's bytes, when the header makes it the dictionary
        self.last_frame = b""  # the compressed bytes of the frame read last
        self._size = 0
        self._stream = self._open()
        self._frames = self._iter_frames()
        self.header = self._read_header()

    def _open(self) -> IO[bytes]:
        name = str(self.path)
        if not self.path.exists():
            raise CassetteError(f"{name}: no such file")
        if self.path.is_dir():
            raise CassetteError(f"{name}: is a directory, not a cassette file")
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise CassetteError(f"{name}: cannot open: {err.strerror}") from err
        self._size = os.fstat(stream.fileno()).st_size
        return stream

    def _read_header(self) -> Header:
        name = str(self.path)
        if self._size == 0:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: the file is empty")
        start = self._stream.read(4)
        self._stream.seek(0)
        if start != _ZSTD_MAGIC:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: it is not zstd-compressed")
        try:
            _, payload = next(self._frames)
        except StopIteration:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: no header record") from None
        except _FrameError as err:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: the header record is {err.reason}") from None
        try:
            record = unpack_record(payload, stored_bytes=len(self.last_frame))
        except RecordError as err:
            self.close()
            raise CassetteError(f"{name}: the header record: {err}; the file was not written by rec") from None
        except Exception:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: the first record is not msgpack") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: zstd data without a rec cassette header")
        version = record.get("version")
        if not isinstance(version, int):
            self.close()
            raise NotACassetteError(f"{name}: not a cassette: the header has no format version")
        if version > FORMAT_VERSION:
            self.close()
            raise NewerVersionError(
                f"{name}: cassette format version {version} is newer than this rec reads "
                f"(up to {FORMAT_VERSION}); upgrade rec to read it"
            )
        try:
            return Header.from_record(record)
        except RecordError as err:
            self.close()
            raise CassetteError(f"{name}: the header record: {err}; the file was not written by rec or was "
                                "changed by hand") from None

    def _iter_frames(self) -> Iterator[tuple[int, bytes]]:
        """Yield (offset, decompressed payload) per whole zstd frame."""
        decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_BYTES)
        frames = 0
        pending = b""
        offset = 0
        while True:
            if not pending:
                pending = self._stream.read(_READ_SIZE)
                if not pending:
                    return
            frame_start = offset
            while len(pending) < 18 and (more := self._stream.read(_READ_SIZE)):
                pending += more  # a frame header is at most 18 bytes
            sized = self._check_record_size(frame_start, pending)
            limit = self.max_record_bytes if sized else min(self.max_record_bytes, MAX_UNSIZED_RECORD_BYTES)
            frame = decompressor.decompressobj()
            parts: list[bytes] = []
            raw: list[bytes] = []  # the frame as stored, for readers that keep records compressed
            inflated = 0
            while True:
                raw.append(pending)
                fed = 0
                while fed < len(pending) and not frame.eof:
                    # zstd stops a frame at the size it states; one that states none is fed a little at a time,
                    # so no piece can inflate far past the limit before it is checked.
                    step = len(pending) if sized else max(64, (limit - inflated) // _ZSTD_MAX_RATIO)
                    try:
                        parts.append(frame.decompress(pending[fed:fed + step] if step < len(pending) else pending))
                    except zstandard.ZstdError:
                        raise _FrameError(frame_start, "corrupt") from None
                    fed += step
                    inflated += len(parts[-1])
                    if inflated > limit:
                        raise self._too_large(frame_start, inflated, sized)
                if frame.eof:
                    unused = frame.unused_data + pending[fed:]
                    offset += len(pending) - len(unused)
                    if unused:
                        raw[-1] = raw[-1][: len(raw[-1]) - len(unused)]
                    self.last_frame = b"".join(raw)
                    pending = unused
                    self.whole_bytes = offset
                    payload = b"".join(parts)
                    parts = []  # not kept beside the payload while its reader unpacks it
                    frames += 1
                    if frames == 2 and self.header.extra.get("dictionary") == FIRST_RECORD_DICTIONARY:
                        # The first record after the header: every later frame is compressed with it.
                        self.dictionary = payload
                        decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary(payload),
                                                                  max_window_size=MAX_WINDOW_BYTES)
                    yield frame_start, payload
                    break
                offset += len(pending)
                pending = self._stream.read(_READ_SIZE)
                if not pending:
                    raise _FrameError(frame_start, "truncated")

    def _check_record_size(self, offset: int, start: bytes) -> bool:
        """Refuse a frame that states a size over the limit, or a window over ``MAX_WINDOW_BYTES``, before
        inflating any of it; whether the frame states its size."""
        try:
            parameters = zstandard.get_frame_parameters(start)
        except zstandard.ZstdError:
            return True  # not a frame header: decompressing it says "corrupt"
        if parameters.window_size > MAX_WINDOW_BYTES:
            self.close()
            raise CassetteError(f"{self.path}: the record at byte {offset} asks for a {parameters.window_size}-byte "
                                f"zstd window, over the {MAX_WINDOW_BYTES} a reader holds; the file was not written "
                                "by rec")
        sized = parameters.content_size != _ZSTD_UNKNOWN_SIZE
        if sized and parameters.content_size > self.max_record_bytes:
            raise self._too_large(offset, parameters.content_size, sized)
        return sized

    def _too_large(self, offset: int, size: int, sized: bool) -> CassetteError:
        self.close()
        if not sized:
            return CassetteError(f"{self.path}: the record at byte {offset} does not state its size and inflates to "
                                 f"{size} bytes or more, over the {MAX_UNSIZED_RECORD_BYTES} a reader takes from "
                                 "such a record; the file was not written by rec")
        return CassetteError(f"{self.path}: the record at byte {offset} inflates to {size} bytes or more, over the "
                             f"{self.max_record_bytes} a record may hold; the file was not written by rec")

    def __iter__(self) -> Iterator[Exchange]:
        number = 0  # the exchange's number, as rec show and the replayer count them
        open_sockets: dict[str, WebSocketExchange] = {}  # connections written in parts, not closed yet
        while True:
            try:
                offset, payload = next(self._frames)
            except StopIteration:
                yield from _unclosed(open_sockets)
                return
            except _FrameError as err:
                self._damaged(err.offset, f"{err.reason} record")
                yield from _unclosed(open_sockets)
                return
            try:
                record = unpack_record(payload, stored_bytes=len(self.last_frame))
            except RecordError as err:
                self.close()
                raise bad_record(self.path, number, offset, err) from None
            except Exception:
                self._damaged(offset, "unreadable record")
                yield from _unclosed(open_sockets)
                return
            try:
                exchange = exchange_from_record(record)
            except RecordError as err:
                self.close()
                raise bad_record(self.path, number, offset, err) from None
            if isinstance(exchange, WebSocketPart):
                merged = _merge_part(open_sockets, exchange)
                if merged is None:
                    continue
                exchange = merged
            number += 1
            yield exchange

    def _damaged(self, offset: int, reason: str) -> None:
        self.whole_bytes = offset
        self.damage = Damage(offset=offset, dropped_bytes=self._size - offset, reason=reason)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CassetteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordDecompressor:
    """One zstd context holding a cassette's dictionary, shared by its indexed records: loading the dictionary
    costs more than decompressing a record. A context is not thread-safe: one thread uses it at a time."""

    def __init__(self, dictionary: bytes | None) -> None:
        self._decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary(dictionary) if dictionary else None,
                                                        max_window_size=MAX_WINDOW_BYTES)
        self._lock = threading.Lock()

    def decompress(self, frame: bytes) -> bytes:
        with self._lock:
            if zstandard.frame_content_size(frame) >= 0:
                # A frame that states its size (rec writes every one so, and the index checked it against the
                # limit) inflates in one call, straight into its buffer; a streaming object copies it once more.
                return self._decompressor.decompress(frame)
            return self._decompressor.decompressobj().decompress(frame)


_PLAIN = RecordDecompressor(None)


# --- an HTTP record of the shape rec writes, read in one pass -------------------------------
# A replayer decodes each answer of a large cassette on its first serve. msgspec reads an HTTP
# record of exactly the shape rec writes and checks every type while it builds the values (in C:
# the chunks of an answer are hundreds of pairs); anything else (an unknown key, a value of
# another type, a record too large to read without counting its values) goes the generic way,
# which keeps unknown keys and names the field at fault. Every record this way takes, the generic
# way reads to the same exchange (tests/core/test_cassette_bounds.py holds the two together).


class _RequestRecord(msgspec.Struct, forbid_unknown_fields=True):
    method: str
    path: str
    query: list[tuple[str, str]] | None = None
    headers: list[tuple[str, str]] | None = None
    body: bytes | None = None
    decoded_body: bytes | None = None
    started_at: float = 0.0


class _ResponseRecord(msgspec.Struct, forbid_unknown_fields=True):
    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] | None = None
    chunks: list[tuple[float, bytes]] | msgspec.UnsetType = msgspec.UNSET  # versions 1 and 2 (absent: not nil)
    body: bytes = b""  # version 3: the body joined, its chunks' times and sizes packed
    chunk_ms: bytes = b""
    chunk_sizes: bytes = b""


class _EndRecord(msgspec.Struct, forbid_unknown_fields=True):
    state: Literal["completed", "error"] = "completed"
    error: str | None = None
    message: str | None = None
    at_ms: float = 0.0


class _HttpRecord(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["http"]
    request: _RequestRecord
    response: _ResponseRecord | None = None
    end: _EndRecord | None = None


_HTTP_RECORD = msgspec.msgpack.Decoder(_HttpRecord)


def _common_http(payload: bytes) -> HttpExchange | None:
    """The exchange of an HTTP record of the shape rec writes, or None for any other record (read the generic
    way: ``unpack_record``, ``exchange_from_record``)."""
    if 2 * len(payload) > MAX_RECORD_VALUES:
        return None  # read by counting its values (unpack_record)
    try:
        record = _HTTP_RECORD.decode(payload)
    except msgspec.MsgspecError:
        return None
    request, response, end = record.request, record.response, record.end
    headers = request.headers or []
    # Header text goes on a line of its own: one with a CR, LF or NUL (a folded value, read as one line, or one
    # refused) goes the generic way.
    texts = [name + value for name, value in headers]
    if response is not None:
        if not 100 <= response.status <= 599:
            return None
        texts += [name + value for name, value in response.headers or ()]
        texts.append(response.reason or "")
    if _LINE_BREAKS.search("".join(texts)):
        return None
    answer = None
    if response is not None:
        if response.chunks is not msgspec.UNSET:
            if response.body or response.chunk_ms or response.chunk_sizes:
                return None  # both ways at once: refused by the generic way
            answer = Response(response.status, response.reason or "", response.headers or [], response.chunks)
        else:
            try:
                times, sizes = _chunk_times_sizes(response.chunk_ms, response.chunk_sizes, response.body, "response")
            except RecordError:
                return None  # named by the generic way
            answer = Response.joined(response.status, response.reason or "", response.headers or [], response.body,
                                     times, sizes)
    return HttpExchange(
        request=Request(request.method, request.path, request.query or [], headers, request.body or b"",
                        request.decoded_body, request.started_at),
        response=answer,
        end=End() if end is None else End(end.state, end.error, end.message or "", end.at_ms),
    )


@dataclass
class IndexedRecord:
    """A record known by its kind and request line, kept compressed until ``exchange()`` is asked for.

    A replayer indexes a large cassette this way: what it needs to route a request costs a
    partial read, and an answer is decoded only when it is first served. ``content_hash`` is
    ``hash()`` of the request's content (its body as the application sees it), when the index
    was asked for it: a request sent exactly as recorded is then found without decoding.
    """

    kind: str
    method: str
    path: str
    frame: bytes
    decompressor: RecordDecompressor = _PLAIN
    number: int = 0
    source: str = ""
    content_hash: int | None = None

    @property
    def size(self) -> int:
        """How many bytes the record decodes to, read from its frame's header (-1 when the frame does not say)."""
        return zstandard.frame_content_size(self.frame)

    def exchange(self) -> Exchange:
        """The whole exchange (decoded and checked now); CassetteError names the record if it is malformed.

        A replayer decodes one on its first serve: an HTTP record of the shape rec writes is read in one
        pass (``_common_http``); any other is unpacked with arrays as tuples, so its chunks are taken as
        they come, and its unknown keys in ``extra`` hold tuples where a full read holds lists.
        """
        try:
            payload = self.decompressor.decompress(self.frame)
        except zstandard.ZstdError as err:  # the frame inflated whole when indexed: one line all the same
            raise CassetteError(f"{self.source}: exchange #{self.number}: the record is corrupt ({err})") from None
        common = _common_http(payload) if self.kind == "http" else None
        if common is not None:
            return common
        try:
            return exchange_from_record(unpack_record(payload, use_list=False, stored_bytes=len(self.frame)))
        except RecordError as err:
            raise bad_record(self.source, self.number, None, err) from None
        except (ValueError, TypeError, msgpack.UnpackException) as err:  # its request line read, the rest not
            raise CassetteError(f"{self.source}: exchange #{self.number}: the record is not msgpack ({err}); the "
                                "file was not written by rec") from None


def _request_line(payload: bytes, with_content: bool = False) -> tuple[str, str, str, bytes] | None:
    """The record's type and its request's method, path and (``with_content``) content, read without decoding
    the rest."""
    # Counted as a full read counts: a bomb in place of a method is left to that read to name.
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, **_counting_hooks(MAX_RECORD_VALUES))
    unpacker.feed(payload)
    kind = None
    request: dict[str, Any] = {}
    wanted = ("method", "path", "body", "decoded_body") if with_content else ("method", "path")
    try:
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            if key == "type":
                kind = unpacker.unpack()
            elif key == "request":
                for _ in range(unpacker.read_map_header()):
                    field_name = unpacker.unpack()
                    if field_name in wanted:
                        request[field_name] = unpacker.unpack()
                    else:
                        unpacker.skip()
            else:
                unpacker.skip()
    except (ValueError, msgpack.UnpackException, msgpack.ExtraData, _TooManyValues):
        return None
    method, path = request.get("method"), request.get("path")
    if not isinstance(kind, str) or not isinstance(method, str) or not isinstance(path, str):
        return None
    content = request.get("decoded_body")
    if content is None:
        content = request.get("body") or b""
    return kind, method, path, content if isinstance(content, bytes) else b""


def index_cassette(path: str | os.PathLike[str], content_hashes: bool = False,
                   ) -> tuple[Header, list[IndexedRecord | Exchange], Damage | None]:
    """A cassette's records indexed for serving: HTTP and whole WebSocket records kept compressed (with their
    ``content_hash`` when ``content_hashes``), the rest (WebSocket parts, which must be merged, and records of
    unknown shape) decoded as ``load_cassette`` does."""
    records: list[IndexedRecord | Exchange] = []
    decompressor = _PLAIN
    with CassetteReader(path) as reader:
        frames, number = reader._frames, 0
        open_sockets: dict[str, WebSocketExchange] = {}
        while True:
            try:
                offset, payload = next(frames)
            except StopIteration:
                break
            except _FrameError as err:
                reader._damaged(err.offset, f"{err.reason} record")
                break
            line = _request_line(payload, content_hashes)
            if line is not None and line[0] in ("http", "websocket"):
                if reader.dictionary is not None and reader.dictionary is not payload and decompressor is _PLAIN:
                    decompressor = RecordDecompressor(reader.dictionary)
                own = _PLAIN if reader.dictionary is payload else decompressor  # the dictionary is not its own
                records.append(IndexedRecord(line[0], line[1], line[2], reader.last_frame, own, number, str(path),
                                             hash(line[3]) if content_hashes else None))
                number += 1
                continue
            try:
                record = unpack_record(payload, stored_bytes=len(reader.last_frame))
            except RecordError as err:
                raise bad_record(path, number, offset, err) from None
            except Exception:
                reader._damaged(offset, "unreadable record")
                break
            try:
                exchange = exchange_from_record(record)
            except RecordError as err:
                raise bad_record(path, number, offset, err) from None
            if isinstance(exchange, WebSocketPart):
                merged = _merge_part(open_sockets, exchange)
                if merged is None:
                    continue
                exchange = merged
            records.append(exchange)
            number += 1
        records += _unclosed(open_sockets)
        return reader.header, records, reader.damage


def _merge_part(open_sockets: dict[str, WebSocketExchange], part: WebSocketPart) -> WebSocketExchange | None:
    """Add a part to its connection; the whole connection once its final part has come."""
    so_far = open_sockets.get(part.connection)
    if so_far is None:
        so_far = open_sockets[part.connection] = dataclasses.replace(part.exchange, frames=[], close=None)
    so_far.frames.extend(part.exchange.frames)
    if not part.final:
        return None
    del open_sockets[part.connection]
    so_far.close = part.exchange.close
    return so_far


def _unclosed(open_sockets: dict[str, WebSocketExchange]) -> Iterator[WebSocketExchange]:
    """Connections whose recording stopped before they closed: every whole turn written, and no close."""
    for connection in list(open_sockets.values()):
        connection.extra = {**connection.extra, "cut": "the recording stopped before this connection closed"}
        yield connection
    open_sockets.clear()


@dataclass
class Cassette:
    """A cassette read whole into memory."""

    header: Header
    exchanges: list[Exchange]
    damage: Damage | None = None
    path: Path | None = None

    def warnings(self) -> list[str]:
        if self.damage is None:
            return []
        kept = len(self.exchanges)
        return [f"{self.path}: {self.damage.describe()}; kept {kept} whole exchange(s)"]


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a whole cassette; a damaged tail is reported in ``damage``, never raised."""
    with CassetteReader(path) as reader:
        exchanges = list(reader)
        return Cassette(header=reader.header, exchanges=exchanges, damage=reader.damage, path=reader.path)
