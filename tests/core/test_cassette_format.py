"""The cassette format: round trips, cuts at every byte, versions, unknown fields."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec.cassette import (
    FORMAT_VERSION,
    CassetteError,
    CassetteReader,
    CassetteWriter,
    End,
    Header,
    HttpExchange,
    IndexedRecord,
    NewerVersionError,
    NotACassetteError,
    RecordDecompressor,
    Request,
    Response,
    UnknownRecord,
    WebSocketExchange,
    _common_http,
    index_cassette,
    load_cassette,
    write_cassette,
)
from tests.core.strategies import exchanges, headers, http_exchanges

tmp_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)


@tmp_settings
@given(header=headers, written=st.lists(exchanges, max_size=4))
def test_any_exchange_written_is_read_back_equal(tmp_path: Path, header: Header, written: list) -> None:
    path = tmp_path / "c.mpk"
    write_cassette(path, header, written)
    cassette = load_cassette(path)
    assert cassette.damage is None
    assert cassette.header == header
    assert cassette.exchanges == written


def _without_extras(exchange: HttpExchange) -> HttpExchange:
    response = exchange.response
    return dataclasses.replace(
        exchange, extra={}, request=dataclasses.replace(exchange.request, extra={}),
        response=Response(response.status, response.reason, response.headers, response.chunks) if response else None,
        end=dataclasses.replace(exchange.end, extra={}))


@tmp_settings
@given(written=st.lists(http_exchanges, min_size=1, max_size=4), plain=st.booleans(), version=st.sampled_from([2, 3]))
def test_any_http_exchange_reads_alike_from_the_index(tmp_path: Path, written: list, plain: bool,
                                                      version: int) -> None:
    """An HTTP record of the shape rec writes (in its version or the last) is read in one pass (what a replayer's
    first serve decodes); one with unknown keys is read the generic way. Both give the exchange written."""
    if plain:
        written = [_without_extras(exchange) for exchange in written]
    path = tmp_path / "c.mpk"
    write_cassette(path, Header(), written, version=version)
    _, records, _ = index_cassette(path)
    assert [record.exchange() for record in records if isinstance(record, IndexedRecord)] == written
    for record, exchange in zip(records, written, strict=True):
        assert isinstance(record, IndexedRecord)
        one_pass = _common_http(record.decompressor.decompress(record.frame))
        assert one_pass == (exchange if exchange == _without_extras(exchange) else None)


@tmp_settings
@given(written=st.lists(exchanges, min_size=1, max_size=3))
def test_writer_appends_are_each_readable(tmp_path: Path, written: list) -> None:
    path = tmp_path / "w.mpk"
    with CassetteWriter.create(path, Header()) as writer:
        for exchange in written:
            writer.append(exchange)
    with CassetteWriter.append_to(path) as writer:
        writer.append(written[0])
    assert load_cassette(path).exchanges == [*written, written[0]]


def test_a_version_2_cassette_is_read_and_appended_to_in_its_own_version(tmp_path: Path) -> None:
    """A cassette recorded by an earlier rec takes more exchanges without changing its version: the rec that wrote
    it still reads every one."""
    path = tmp_path / "old.mpk"
    shutil.copy(Path(__file__).resolve().parents[2] / "cassettes" / "example.mpk", path)
    before = load_cassette(path).exchanges
    added = HttpExchange(Request("POST", "/v1/responses"),
                         Response(200, headers=[("content-type", "text/event-stream")],
                                  chunks=[(1.0, b"data: 1\n\n"), (2.5, b"data: 2\n\n")]))
    with CassetteWriter.append_to(path) as writer:
        writer.append(added)
    with CassetteReader(path) as reader:
        assert reader.header.version == 2
        read = list(reader)
        plain = msgpack.unpackb(RecordDecompressor(reader.dictionary).decompress(reader.last_frame))
    assert read == [*before, added]
    assert plain["response"]["chunks"] == [[1.0, b"data: 1\n\n"], [2.5, b"data: 2\n\n"]]
    assert "body" not in plain["response"]


def _small_cassette(path: Path) -> tuple[list[int], list[HttpExchange]]:
    """A three-exchange cassette and the byte offset where each record ends."""
    written = [
        HttpExchange(
            request=Request(method="POST", path="/v1/responses", body=b'{"input": []}'),
            response=Response(status=200, headers=[("content-type", "text/event-stream")],
                               chunks=[(1.0, b"event: a\ndata: {}\n\n"), (5.5, b"event: b\n\n")]),
            end=End(at_ms=6.0),
        )
        for _ in range(3)
    ]
    write_cassette(path, Header(upstream="https://example.test"), written)
    data = path.read_bytes()
    ends, offset = [], 0
    decompressor = zstandard.ZstdDecompressor()
    while offset < len(data):
        obj = decompressor.decompressobj()
        payload = obj.decompress(data[offset:])
        offset = len(data) - len(obj.unused_data)
        ends.append(offset)
        if len(ends) == 2:  # format 2: the first record after the header is the dictionary of the rest
            raw = zstandard.ZstdCompressionDict(payload, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            decompressor = zstandard.ZstdDecompressor(dict_data=raw)
    return ends, written


def test_a_cut_at_every_byte_keeps_the_header_and_every_whole_exchange(tmp_path: Path) -> None:
    source = tmp_path / "whole.mpk"
    record_ends, written = _small_cassette(source)
    data = source.read_bytes()
    header_end = record_ends[0]
    cut = tmp_path / "cut.mpk"
    for size in range(len(data) + 1):
        cut.write_bytes(data[:size])
        if size == 0:
            with pytest.raises(NotACassetteError, match="empty"):
                load_cassette(cut)
            continue
        if size < header_end:
            with pytest.raises(NotACassetteError):
                load_cassette(cut)
            continue
        cassette = load_cassette(cut)
        whole = sum(1 for end in record_ends[1:] if end <= size)
        assert cassette.exchanges == written[:whole], size
        at_boundary = size in record_ends
        assert (cassette.damage is None) == at_boundary, size
        if cassette.damage is not None:
            assert cassette.damage.dropped_bytes == size - record_ends[whole]
            assert "truncated" in cassette.damage.describe()


def test_append_to_a_cut_cassette_drops_the_torn_record_first(tmp_path: Path) -> None:
    path = tmp_path / "c.mpk"
    record_ends, written = _small_cassette(path)
    path.write_bytes(path.read_bytes()[: record_ends[2] + 7])
    with CassetteWriter.append_to(path) as writer:
        writer.append(written[0])
    cassette = load_cassette(path)
    assert cassette.damage is None
    assert len(cassette.exchanges) == 3


def test_garbage_after_whole_records_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.mpk"
    _small_cassette(path)
    with path.open("ab") as f:
        f.write(b"not zstd at all")
    cassette = load_cassette(path)
    assert len(cassette.exchanges) == 3
    assert cassette.damage is not None and "corrupt" in cassette.damage.reason


def _raw_cassette(path: Path, *records: dict) -> None:
    compressor = zstandard.ZstdCompressor()
    path.write_bytes(b"".join(compressor.compress(msgpack.packb(r, use_bin_type=True)) for r in records))


def test_a_newer_major_version_is_refused_with_a_message_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "new.mpk"
    newer = FORMAT_VERSION + 1
    _raw_cassette(path, {**Header().to_record(), "version": newer})
    with pytest.raises(NewerVersionError, match=rf"version {newer} is newer .*upgrade rec"):
        load_cassette(path)


def test_unknown_fields_and_record_types_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "future.mpk"
    http = HttpExchange(request=Request(method="GET", path="/v1/models"), response=Response(status=200))
    future_http = {**http.to_record(), "trace": {"span": 7}}
    future_http["request"]["priority"] = "high"
    unknown = {"type": "grpc", "payload": b"\x00\x01"}
    _raw_cassette(path, {**Header().to_record(), "minor_version": 9, "writer_host": "ci-1"}, future_http, unknown)

    cassette = load_cassette(path)
    assert cassette.header.extra == {"writer_host": "ci-1"}
    assert cassette.header.minor_version == 9
    assert isinstance(cassette.exchanges[1], UnknownRecord)

    copy = tmp_path / "copy.mpk"
    write_cassette(copy, cassette.header, cassette.exchanges)
    again = load_cassette(copy)
    assert again.exchanges[0].to_record() == future_http
    assert again.exchanges[1].to_record() == unknown
    assert again.header.to_record()["writer_host"] == "ci-1"


def test_reading_the_first_exchange_does_not_read_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.mpk"
    blobs = [os.urandom(256 * 1024) for _ in range(20)]  # incompressible and all different: a large file
    exchanges = [HttpExchange(request=Request(method="POST", path="/v1/responses", body=blob),
                              response=Response(status=200, chunks=[(0.0, blob)])) for blob in blobs]
    write_cassette(path, Header(), exchanges)
    with CassetteReader(path) as reader:
        first = next(iter(reader))
        assert first.request.body == blobs[0]
        assert reader._stream.tell() < path.stat().st_size / 4


def test_write_cassette_is_atomic_when_an_exchange_fails_to_serialize(tmp_path: Path) -> None:
    path = tmp_path / "keep.mpk"
    _small_cassette(path)
    before = path.read_bytes()
    bad = HttpExchange(request=Request(method="GET", path="/", extra={"x": object()}), response=None)
    with pytest.raises(TypeError):
        write_cassette(path, Header(), [bad])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mpk"]


def test_websocket_exchange_keeps_frames_in_order(tmp_path: Path) -> None:
    from rec.cassette import Close, Frame

    ws = WebSocketExchange(
        request=Request(method="GET", path="/v1/responses", headers=[("upgrade", "websocket")]),
        response=Response(status=101),
        extensions=["permessage-deflate"],
        frames=[Frame(1.0, True, True, b'{"type":"response.create"}'), Frame(2.0, False, True, b"{}")],
        close=Close(code=1000, reason="bye", by="client", at_ms=3.0),
    )
    path = tmp_path / "ws.mpk"
    write_cassette(path, Header(), [ws])
    assert load_cassette(path).exchanges == [ws]


def test_an_indexed_record_decodes_as_a_full_read_does_and_names_a_bad_chunk(tmp_path: Path) -> None:
    good = HttpExchange(request=Request("POST", "/v1/responses", body=b'{"a": 1}'),
                        response=Response(200, headers=[("content-type", "text/event-stream")],
                                          chunks=[(0.0, b"data: 1\n\n"), (5, b"data: 2\n\n")]),
                        extra={"note": [1, 2]})
    bad = dataclasses.replace(good, response=good.response.with_chunks([(0.0, b"x"), (1.0, "text")]))  # type: ignore[union-attr, list-item]
    path = tmp_path / "c.mpk"
    write_cassette(path, Header(), [good, bad], version=2)  # chunks as pairs, a chunk's data written as text
    _, records, _ = index_cassette(path, content_hashes=True)
    first, second = records
    assert isinstance(first, IndexedRecord) and isinstance(second, IndexedRecord)
    decoded = first.exchange()
    assert isinstance(decoded, HttpExchange) and decoded.response is not None
    assert decoded.response.chunks == [(0.0, b"data: 1\n\n"), (5.0, b"data: 2\n\n")]
    with CassetteReader(path) as reader:  # the same record (its unknown keys hold tuples for lists)
        assert msgpack.packb(decoded.to_record()) == msgpack.packb(next(iter(reader)).to_record())
    assert first.content_hash == hash(b'{"a": 1}') and first.size > 0
    with pytest.raises(CassetteError, match=r"exchange #1: `response.chunks\[1\]\[1\]` must be bytes, got text"):
        second.exchange()
