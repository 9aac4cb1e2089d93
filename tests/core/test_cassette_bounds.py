"""Any value in any field of any record, and records built to expand: a reading or one clean error, never a
traceback or gigabytes.

Every reader is driven: ``rec show`` (table and ``--json``) and ``rec check`` as commands, the
replayer's load and the bytes it would send, and the index a large cassette is served from.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command

from rec.cassette import (
    MAX_NESTING,
    MAX_RECORD_VALUES,
    MAX_UNSIZED_RECORD_BYTES,
    CassetteError,
    CassetteWriter,
    Frame,
    Header,
    HttpExchange,
    IndexedRecord,
    RecordTooLargeError,
    Request,
    Response,
    WebSocketExchange,
    index_cassette,
    load_cassette,
    values_bound,
    write_cassette,
)
from rec.cli import app
from replayer.answers import BodyAnswer, StreamAnswer, WebSocketAnswer, compile_exchange
from replayer.core import ReplayCore
from tests.core.test_cassette_validation import GOOD_HTTP, GOOD_JOINED, GOOD_WS, frame

# The optional fields rec knows ride along, so they are fuzzed too.
GOOD_WS_FULL: dict[str, Any] = {**GOOD_WS, "accept_delay_ms": 5.0, "deliberately_malformed": False}
GOOD_PART: dict[str, Any] = {**GOOD_WS_FULL, "type": "websocket_part", "connection": "c1", "final": True}
HEADER: dict[str, Any] = Header(upstream="https://api.openai.com", metadata={"client": "codex"}).to_record()
RECORDS = {"http": GOOD_HTTP, "http_joined": GOOD_JOINED, "websocket": GOOD_WS_FULL, "websocket_part": GOOD_PART}


def field_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field of a record, nested ones included, and a field no version knows beside each map's own."""
    if isinstance(value, dict):
        yield (*path, "x-unknown")
        for key, child in value.items():
            yield (*path, key)
            yield from field_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from field_paths(child, (*path, index))


TARGETS = [(kind, where) for kind, record in RECORDS.items() for where in field_paths(record)]
HEADER_TARGETS = [where for where in field_paths(HEADER) if where not in (("format",), ("type",))]

# A value of every type msgpack has, scalars and containers, including the awkward ones: text that is not
# latin-1 or breaks a line, integers at both ends of 64 bits, NaN, extension types and timestamps.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(),
    st.text(max_size=6), st.sampled_from(["é€", "a\r\nx-injected: 1", "\0", "日本"]), st.binary(max_size=6),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
    st.just(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)),
)
map_keys = st.one_of(st.text(max_size=4), st.integers(-5, 5), st.binary(max_size=3), st.none())
msgpack_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                              | st.dictionaries(map_keys, inner, max_size=3), max_leaves=6)


def with_value(record: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = msgpack.unpackb(msgpack.packb(record, use_bin_type=True), raw=False)
    target = copy
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return copy


def packed(record: Any) -> bytes:
    return frame(record)


def write(path: Path, header: Any, *records: Any) -> Path:
    path.write_bytes(packed(header) + b"".join(packed(record) for record in records))
    return path


# The command line built once (typer's test runner builds it again for every run), run in this process.
rec_command = get_command(app)


def run_rec(*args: str) -> int:
    """Run a rec command; its exit code. Any exception but the exit itself fails the test: a traceback."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            rec_command.main(list(args), prog_name="rec")
        except SystemExit as exit:
            code = exit.code
        else:
            code = 0
    assert code in (0, 1, 2), stderr.getvalue()
    if code == 2:
        errors = [line for line in stderr.getvalue().splitlines() if line.startswith("rec: error:")]
        assert len(errors) == 1, stderr.getvalue()
    return code


def read_whole(path: Path) -> str | None:
    """The one-line error a full read of the cassette gives, or None when it reads."""
    try:
        load_cassette(path)
    except CassetteError as err:
        assert "\n" not in str(err)
        return str(err)
    return None


def served_bytes(path: Path) -> None:
    """What the replayer does with a cassette before and as it serves it: load it (as a small cassette, decoded
    at once, and as a large one, from the index), then build the bytes each answer would go out as. The index
    refuses exactly what a full read refuses (no false alarm on one path that the other would not raise), and
    reads the rest to the same values."""
    refused = read_whole(path)
    try:
        core = ReplayCore()
        core.load([path])
        _, records, _ = index_cassette(path)
        exchanges = [r.exchange() if isinstance(r, IndexedRecord) else r for r in records]
    except CassetteError as err:
        assert "\n" not in str(err)
        assert refused is not None, f"the index refused what a full read takes: {err}"
        return
    assert refused is None, f"the index took what a full read refuses: {refused}"
    # And reads it to the same values (unknown keys hold tuples where a full read holds lists: packed, alike).
    whole = load_cassette(path).exchanges
    assert [msgpack.packb(e.to_record()) for e in exchanges] == [msgpack.packb(e.to_record()) for e in whole]
    for exchange in exchanges:
        answer = compile_exchange(exchange)
        if isinstance(answer, BodyAnswer):
            assert answer.immediate is not None
        elif isinstance(answer, StreamAnswer):
            assert answer.head is not None and answer.chunks is not None
            _ = answer.immediate
        elif isinstance(answer, WebSocketAnswer):
            for name, value in answer.headers:
                (name + value).encode("utf-8")


def every_reader(path: Path) -> None:
    for command in (["show", str(path)], ["show", "--json", str(path)], ["check", str(path)]):
        run_rec(*command)
    served_bytes(path)


settings_for_fields = settings(max_examples=300, deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings_for_fields
@given(target=st.sampled_from(TARGETS), value=msgpack_values)
def test_any_value_in_any_field_of_any_record_is_read_or_refused_in_one_line(tmp_path: Path, target: Any,
                                                                             value: Any) -> None:
    kind, where = target
    record = with_value(RECORDS[kind], where, value)
    every_reader(write(tmp_path / "fuzz.mpk", HEADER, GOOD_HTTP, record))


@settings_for_fields
@given(where=st.sampled_from(HEADER_TARGETS), value=msgpack_values)
def test_any_value_in_any_field_of_the_header_is_read_or_refused_in_one_line(tmp_path: Path, where: Any,
                                                                            value: Any) -> None:
    every_reader(write(tmp_path / "fuzz.mpk", with_value(HEADER, where, value), GOOD_HTTP))


@pytest.mark.parametrize("kind", list(RECORDS))
def test_a_well_formed_record_of_every_kind_reads_alike_whole_and_from_the_index(tmp_path: Path, kind: str) -> None:
    record = {**RECORDS[kind], "extensions": ["permessage-deflate"]} if kind.startswith("websocket") else RECORDS[kind]
    path = write(tmp_path / "good.mpk", HEADER, GOOD_HTTP, record)
    [_, whole] = load_cassette(path).exchanges
    _, records, _ = index_cassette(path)
    indexed = records[1].exchange() if isinstance(records[1], IndexedRecord) else records[1]
    assert whole.to_record() == indexed.to_record()
    served_bytes(path)


def test_every_field_of_every_record_kind_is_covered() -> None:
    # The walk finds the fields the format documents, so a new field is fuzzed the day it is added.
    http = {where for kind, where in TARGETS if kind == "http"}
    assert {("request", "headers", 0, 1), ("response", "chunks", 0, 0), ("end", "at_ms"), ("x-unknown",)} <= http
    joined = {where for kind, where in TARGETS if kind == "http_joined"}
    assert {("response", "body"), ("response", "chunk_ms"), ("response", "chunk_sizes")} <= joined
    websocket = {where for kind, where in TARGETS if kind == "websocket_part"}
    assert {("frames", 0, "payload"), ("close", "by"), ("extensions",), ("connection",), ("final",)} <= websocket


# --- records built to expand --------------------------------------------------------------


def record_with(field: bytes) -> bytes:
    """GOOD_HTTP's msgpack with one more field, ``x``, whose value is these msgpack bytes as given."""
    head = msgpack.packb({**GOOD_HTTP, "x": None}, use_bin_type=True)
    return head[:-1] + field  # the nil written for `x` is replaced by the value


def array(count: int, item: bytes) -> bytes:
    return b"\xdd" + count.to_bytes(4, "big") + item * count


EXPANDING = {
    "16M empty lists": array(16 * 1024 * 1024, b"\x90"),
    "4096 lists of 4096 empty maps": array(4096, array(4096, b"\x80")),
    "a map claiming 2^32-1 entries": b"\xdf\xff\xff\xff\xff",
    "3M two-letter strings": array(3_000_000, b"\xa2ab"),
    f"lists {MAX_NESTING + 1} deep": b"\x91" * (MAX_NESTING + 1) + b"\xc0",
    "lists 100,000 deep": b"\x91" * 100_000 + b"\xc0",
}


def sized_frame(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=True).compress(payload)


def bomb(path: Path, name: str) -> Path:
    path.write_bytes(packed(HEADER) + packed(GOOD_HTTP) + sized_frame(record_with(EXPANDING[name])))
    assert path.stat().st_size < 100_000
    return path


@pytest.mark.parametrize("name", list(EXPANDING))
def test_a_record_built_to_expand_is_one_error_naming_the_exchange_and_field(tmp_path: Path, name: str) -> None:
    with pytest.raises(CassetteError) as raised:
        load_cassette(bomb(tmp_path / "bomb.mpk", name))
    message = str(raised.value)
    assert "exchange #1" in message and "`x`" in message and "\n" not in message
    assert f"{MAX_RECORD_VALUES:,} values" in message or "nests deeper" in message


def test_every_command_and_the_replayer_refuse_a_record_built_to_expand(tmp_path: Path) -> None:
    path = bomb(tmp_path / "bomb.mpk", "16M empty lists")
    for command in (["show", str(path)], ["show", "--json", str(path)], ["check", str(path)]):
        assert run_rec(*command) == 2
    with pytest.raises(CassetteError, match="exchange #1"):
        ReplayCore().load([path])
    _, records, _ = index_cassette(path)
    record = records[1]
    assert isinstance(record, IndexedRecord)  # a large cassette's record, decoded as first served
    with pytest.raises(CassetteError, match="exchange #1"):
        record.exchange()


def test_a_large_record_within_the_bounds_reads_whole(tmp_path: Path) -> None:
    # 250,000 chunks: a stream longer than any model writes, in a record too large to go uncounted.
    chunks = [[float(n), b"data: {}\n\n"] for n in range(250_000)]
    record = {**GOOD_HTTP, "response": {**GOOD_HTTP["response"], "chunks": chunks}}
    cassette = load_cassette(write(tmp_path / "long.mpk", HEADER, record))
    assert len(cassette.exchanges[0].response.chunks) == 250_000  # type: ignore[union-attr]


WORDS = ("the", "file", "test", "error", "value", "change", "return", "list", "folder", "build")


def long_connection(frames: int) -> WebSocketExchange:
    """A WebSocket connection as a Codex session of hours records it: a text delta per frame, a few words each, at
    the irregular times a model streams."""
    rng = random.Random(frames)
    at, sent = 0.0, []
    for n in range(frames):
        at += rng.uniform(5.0, 40.0)
        delta = (f'{{"type":"response.output_text.delta","sequence_number":{n},"item_id":"msg_1","output_index":0,'
                 f'"delta":" {rng.choice(WORDS)}","obfuscation":"{rng.getrandbits(40):x}"}}')
        sent.append(Frame(round(at, 3), False, True, delta.encode()))
    return WebSocketExchange(Request("GET", "/v1/responses"), Response(101), frames=sent)


@pytest.mark.slow  # 170,000 frames built, written and read twice
def test_a_connection_of_hours_merged_into_one_record_reads_whole(tmp_path: Path) -> None:
    """Written as one record (a recording appended to a cassette merges its turns), a connection far past the
    values any record may hold reads, as it takes its share of the file: no false alarm on a long session."""
    connection = long_connection(170_000)  # 9 values a frame: 1,530,000 and more
    path = tmp_path / "long.mpk"
    write_cassette(path, Header(), [connection])
    [read] = load_cassette(path).exchanges
    assert isinstance(read, WebSocketExchange) and read.frames == connection.frames
    _, [indexed], _ = index_cassette(path)
    assert isinstance(indexed, IndexedRecord) and len(indexed.exchange().frames) == 170_000  # type: ignore[union-attr]


def test_a_record_a_reader_would_refuse_is_never_written(tmp_path: Path) -> None:
    # 200,000 identical frames at the same time: 1,800,000 values in a few kilobytes of zstd, as a bomb is.
    same = WebSocketExchange(Request("GET", "/v1/responses"), Response(101),
                             frames=[Frame(0.0, False, True, b"{}")] * 200_000)
    path = tmp_path / "same.mpk"
    with CassetteWriter.create(path, Header()) as writer:
        writer.append(long_connection(10))
        with pytest.raises(RecordTooLargeError, match=r"`frames` holds over 1,500,000 values"):
            writer.append(same)
    assert len(load_cassette(path).exchanges) == 1  # the cassette reads, with what was written before


def test_chunks_are_values_no_more_an_answer_of_any_length_is_written_and_read(tmp_path: Path) -> None:
    """Version 3 packs an answer's chunk times and sizes: 600,000 identical chunks (1,800,000 values as pairs, a
    bomb's count) are three values, written and read back whole."""
    same = HttpExchange(Request("POST", "/v1/responses"), Response(200, chunks=[(0.0, b"data: {}\n\n")] * 600_000))
    path = tmp_path / "same.mpk"
    write_cassette(path, Header(), [same])
    [read] = load_cassette(path).exchanges
    assert read == same
    _, [indexed], _ = index_cassette(path)
    assert isinstance(indexed, IndexedRecord) and indexed.exchange() == same


def test_a_bomb_padded_to_raise_its_bound_is_refused_at_that_bound(tmp_path: Path) -> None:
    """Bytes that do not compress buy a record room for more values, in proportion: a bomb beside them is still
    refused, at the bound its stored size gives."""
    padding = msgpack.packb(random.Random(0).randbytes(200_000), use_bin_type=True)
    head = msgpack.packb({**GOOD_HTTP, "pad": None, "x": None}, use_bin_type=True)
    record = head[:-len(b"\xc0\xa1x\xc0")] + padding + b"\xa1x" + EXPANDING["16M empty lists"]
    stored = sized_frame(record)
    path = tmp_path / "padded.mpk"
    path.write_bytes(packed(HEADER) + stored)
    with pytest.raises(CassetteError) as raised:
        load_cassette(path)
    assert f"`x` holds over {values_bound(len(stored)):,} values" in str(raised.value)
    assert values_bound(len(stored)) > MAX_RECORD_VALUES


def test_a_value_nested_to_the_limit_reads_and_shows(tmp_path: Path) -> None:
    deep: Any = None
    for _ in range(MAX_NESTING):
        deep = [deep]
    path = write(tmp_path / "deep.mpk", HEADER, {**GOOD_HTTP, "x": deep})
    assert load_cassette(path).exchanges[0].extra["x"] == deep
    assert run_rec("show", "--json", str(path)) == 0


def test_a_frame_without_its_size_inflates_only_so_far(tmp_path: Path) -> None:
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * (MAX_UNSIZED_RECORD_BYTES * 8))
    path = tmp_path / "unsized.mpk"
    path.write_bytes(packed(HEADER) + unsized)
    with pytest.raises(CassetteError, match="does not state its size"):
        load_cassette(path)


def test_a_small_frame_without_its_size_reads(tmp_path: Path) -> None:
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(msgpack.packb(GOOD_HTTP))
    path = tmp_path / "unsized.mpk"
    path.write_bytes(packed(HEADER) + unsized)
    assert len(load_cassette(path).exchanges) == 1


def test_a_frame_asking_for_a_huge_window_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    wide = bytearray(zstandard.ZstdCompressor(write_content_size=False, write_checksum=False)
                     .compress(msgpack.packb(GOOD_HTTP)))
    wide[5] = 20 << 3  # the window descriptor: 2^(10 + 20) bytes, 1 GiB
    path = tmp_path / "wide.mpk"
    path.write_bytes(packed(HEADER) + wide)
    with pytest.raises(CassetteError, match="zstd window"):
        load_cassette(path)


@pytest.mark.parametrize("body", [b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000])
def test_rec_show_summarizes_a_deep_json_body_without_recursing(tmp_path: Path, body: bytes) -> None:
    record = {**GOOD_HTTP, "request": {**GOOD_HTTP["request"], "body": body},
              "response": {**GOOD_HTTP["response"], "chunks": [[1.0, b"data: " + body + b"\n\n"]]}}
    path = write(tmp_path / "deep.mpk", HEADER, record)
    for command in (["show", str(path)], ["show", "--json", str(path)], ["check", str(path)]):
        assert run_rec(*command) in (0, 1)
