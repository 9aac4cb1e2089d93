"""Records of the right shape but the wrong types, and records that inflate too far: one line, never a traceback.

The files are built here byte by byte (msgpack in zstd frames), as a buggy writer or a
hand edit would leave them; rec's own writer cannot make them.
"""

from __future__ import annotations

import datetime
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec.cassette import CassetteError, Header, IndexedRecord, index_cassette, load_cassette

GOOD_HTTP: dict[str, Any] = {
    "type": "http",
    "request": {"method": "POST", "path": "/v1/responses", "headers": [["content-type", "application/json"]],
                "body": b"{}", "query": [], "started_at": 0.0},
    "response": {"status": 200, "reason": "OK", "headers": [], "chunks": [[1.0, b"data: {}\n\n"]]},
    "end": {"state": "completed", "error": None, "message": "", "at_ms": 2.0},
}
# Version 3: the body joined, its chunks' times (little-endian float64) and sizes (little-endian uint32) packed.
GOOD_JOINED: dict[str, Any] = {
    **GOOD_HTTP,
    "response": {"status": 200, "reason": "OK", "headers": [], "body": b"data: 1\n\ndata: 2\n\n",
                 "chunk_ms": struct.pack("<2d", 1.0, 4.5), "chunk_sizes": struct.pack("<2I", 9, 9)},
}
GOOD_WS: dict[str, Any] = {
    "type": "websocket",
    "request": {"method": "GET", "path": "/v1/responses", "headers": []},
    "response": {"status": 101, "headers": []},
    "extensions": [],
    "frames": [{"at_ms": 1.0, "from_client": True, "text": True, "payload": b"{}"}],
    "close": {"code": 1000, "reason": "", "by": "client", "at_ms": 3.0},
}
# (record, path to a field, a wrong value): each case the issue met as a traceback, and more.
BAD_FIELDS = [
    (GOOD_HTTP, ("response", "chunks", 0, 1), "text instead of bytes"),
    (GOOD_HTTP, ("response", "chunks", 0, 1), 42),
    (GOOD_HTTP, ("response", "chunks", 0), "not a pair"),
    (GOOD_HTTP, ("end", "at_ms"), "soon"),
    (GOOD_HTTP, ("request", "method"), None),
    (GOOD_HTTP, ("request", "path"), None),
    (GOOD_HTTP, ("request", "headers"), {"a": "b"}),
    (GOOD_HTTP, ("response", "status"), "200"),
    (GOOD_HTTP, ("request", "body"), msgpack.Timestamp(0)),
    (GOOD_WS, ("close", "code"), "1000"),
    (GOOD_WS, ("close", "code"), 70000),
    (GOOD_WS, ("frames", 0, "payload"), b"\xff\xfe"),
    (GOOD_WS, ("frames", 0, "at_ms"), [1]),
    (GOOD_WS, ("frames",), "frames"),
]


def frame(record: Any) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=True).compress(msgpack.packb(record, use_bin_type=True,
                                                                                 datetime=True))


def write_raw(path: Path, *records: Any) -> Path:
    path.write_bytes(frame(Header().to_record()) + b"".join(frame(r) for r in records))
    return path


def with_field(record: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = msgpack.unpackb(msgpack.packb(record, use_bin_type=True), raw=False)
    target = copy
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return copy


@pytest.mark.parametrize(("record", "where", "value"), BAD_FIELDS)
def test_a_badly_typed_field_is_one_line_naming_the_record_and_field(tmp_path: Path, record: Any,
                                                                      where: tuple[Any, ...], value: Any) -> None:
    path = write_raw(tmp_path / "bad.mpk", GOOD_HTTP, with_field(record, where, value))
    with pytest.raises(CassetteError) as raised:
        load_cassette(path)
    message = str(raised.value)
    assert "exchange #1" in message and str(where[0]) in message and "\n" not in message


def test_a_joined_response_reads_as_its_chunks(tmp_path: Path) -> None:
    [exchange] = load_cassette(write_raw(tmp_path / "joined.mpk", GOOD_JOINED)).exchanges
    assert exchange.response.chunks == [(1.0, b"data: 1\n\n"), (4.5, b"data: 2\n\n")]  # type: ignore[union-attr]


# (a field of a joined response, a wrong value, what the error says): read whole and from a replayer's index alike.
BAD_JOINED = [
    ("chunk_sizes", struct.pack("<2I", 9, 8), "`response.chunk_sizes` add up to 17 bytes, but `body` holds 18"),
    ("chunk_sizes", struct.pack("<I", 18), "`response.chunk_ms` holds 2 chunk times, but `chunk_sizes` holds 1 sizes"),
    ("chunk_ms", b"\0" * 15, "`response.chunk_ms` holds 15 bytes, not a whole number of 8-byte times"),
    ("chunk_sizes", [9, 9], "`response.chunk_sizes` must be bytes, got a list"),
    ("body", "data: 1", "`response.body` must be bytes, got text"),
    ("chunks", [[1.0, b"x"]], "`response.chunks` is there beside `body`"),
]


@pytest.mark.parametrize(("key", "value", "says"), BAD_JOINED)
def test_a_joined_response_whose_fields_disagree_is_named(tmp_path: Path, key: str, value: Any, says: str) -> None:
    path = write_raw(tmp_path / "bad.mpk", GOOD_JOINED, with_field(GOOD_JOINED, ("response", key), value))
    with pytest.raises(CassetteError, match=r"exchange #1 \(the record at byte \d+\): " + re.escape(says)):
        load_cassette(path)
    _, [good, bad], _ = index_cassette(path)
    assert isinstance(good, IndexedRecord) and isinstance(bad, IndexedRecord)
    assert good.exchange().response.chunks  # type: ignore[union-attr]
    with pytest.raises(CassetteError, match="exchange #1: " + re.escape(says)):
        bad.exchange()


def test_a_header_value_folded_over_lines_reads_as_one(tmp_path: Path) -> None:
    folded = with_field(GOOD_HTTP, ("response", "headers"), [["x-trace", "first\r\n second\r\n\t\tthird"]])
    path = write_raw(tmp_path / "folded.mpk", folded)
    [exchange] = load_cassette(path).exchanges
    assert exchange.response.headers == [("x-trace", "first second third")]  # type: ignore[union-attr]


@pytest.mark.parametrize(("where", "text"), [
    (("response", "headers"), [["x-injected", "a\r\nset-cookie: b"]]),  # a CRLF that starts another header
    (("response", "headers"), [["x-lf", "a\n b"]]),  # a bare LF is no folding
    (("response", "headers"), [["x-nul", "a\0b"]]),
    (("response", "headers"), [["x-\r\n name", "v"]]),  # a name is never folded
    (("response", "reason"), "OK\r\n more"),
])
def test_a_line_break_that_is_not_a_folded_value_is_refused(tmp_path: Path, where: tuple[Any, ...],
                                                            text: Any) -> None:
    path = write_raw(tmp_path / "broken.mpk", with_field(GOOD_HTTP, where, text))
    with pytest.raises(CassetteError, match="header text without CR, LF or NUL"):
        load_cassette(path)


def run_rec(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rec", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [["show"], ["show", "--json"]])
def test_rec_show_of_a_badly_typed_record_exits_2_without_a_traceback(tmp_path: Path, command: list[str]) -> None:
    path = write_raw(tmp_path / "bad.mpk", with_field(GOOD_HTTP, ("end", "at_ms"), "soon"))
    result = run_rec(*command, path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("rec: error: ") and "`end.at_ms` must be a number, got text" in result.stderr


def test_a_record_that_claims_to_inflate_past_the_cap_is_refused_unread(tmp_path: Path) -> None:
    bomb = zstandard.ZstdCompressor(write_content_size=True).compress(b"\0" * (600 * 1024 * 1024))
    path = tmp_path / "bomb.mpk"
    path.write_bytes(frame(Header().to_record()) + bomb)
    assert path.stat().st_size < 100_000
    with pytest.raises(CassetteError, match=r"inflates to .* over the"):
        load_cassette(path)


msgpack_integers = st.integers(-(2**63), 2**64 - 1)
wrong_values = st.one_of(st.text(max_size=5), msgpack_integers, st.floats(allow_nan=False), st.binary(max_size=5),
                         st.lists(msgpack_integers, max_size=2), st.none(), st.booleans(),
                         st.just(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)))
field_paths = st.sampled_from([(GOOD_HTTP, where) for _, where, _ in BAD_FIELDS[:9]]
                              + [(GOOD_WS, where) for _, where, _ in BAD_FIELDS[9:]]
                              + [(GOOD_JOINED, ("response", key)) for key, _, _ in BAD_JOINED])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=field_paths, value=wrong_values)
def test_any_value_in_any_field_reads_or_is_one_clean_error(tmp_path: Path, target: Any, value: Any) -> None:
    record, where = target
    path = write_raw(tmp_path / "fuzz.mpk", with_field(record, where, value))
    try:
        cassette = load_cassette(path)
    except CassetteError as err:
        assert "\n" not in str(err)
    else:
        assert len(cassette.exchanges) == 1  # a value of the right type after all
