"""Undo an HTTP Content-Encoding (zstd, gzip, deflate, br) on a request or response body.

Decoding is bounded: a few kilobytes of zstd or gzip can inflate to gigabytes, so every
decoder works in steps and stops with ``BodyTooLarge`` once the output passes the limit,
without ever holding more than the limit in memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import zstandard

# The default cap on a decoded body: far above any request or answer of the Responses API.
DEFAULT_LIMIT = 256 * 1024 * 1024
_STEP = 1024 * 1024


class ContentEncodingError(ValueError):
    """The body does not decode with the encoding its headers claim."""


class BodyTooLarge(ContentEncodingError):
    """The decoded body would pass the limit (a decompression bomb, or a limit set too low)."""

    def __init__(self, coding: str, limit: int) -> None:
        super().__init__(f"its {coding} content inflates past {limit} bytes")
        self.limit = limit


def _decode_zstd(body: bytes, limit: int) -> bytes:
    # stream_reader copes with frames that do not record their content size, and reads in steps.
    parts, size = [], 0
    with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as reader:
        while chunk := reader.read(_STEP):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge("zstd", limit)
            parts.append(chunk)
    return b"".join(parts)


def _zlib_decoder(wbits: int, coding: str) -> Callable[[bytes, int], bytes]:
    def decode(body: bytes, limit: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        parts, size, pending = [], 0, body
        while pending:
            chunk = inflater.decompress(pending, _STEP)
            pending = inflater.unconsumed_tail
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(coding, limit)
            parts.append(chunk)
            if inflater.eof:
                if inflater.unused_data and wbits == _GZIP:  # gzip allows several members back to back
                    inflater, pending = zlib.decompressobj(wbits), inflater.unused_data
                elif not chunk:
                    break
            elif not chunk and not pending:
                break
        tail = inflater.flush()
        if size + len(tail) > limit:
            raise BodyTooLarge(coding, limit)
        if not inflater.eof:
            raise ContentEncodingError(f"body is not valid {coding}: it ends before its last block")
        return b"".join([*parts, tail])

    return decode


_GZIP = 16 + zlib.MAX_WBITS
_decode_gzip = _zlib_decoder(_GZIP, "gzip")
_decode_zlib = _zlib_decoder(zlib.MAX_WBITS, "deflate")
_decode_raw_deflate = _zlib_decoder(-zlib.MAX_WBITS, "deflate")


def _decode_deflate(body: bytes, limit: int) -> bytes:
    try:
        return _decode_zlib(body, limit)
    except BodyTooLarge:
        raise
    except (zlib.error, ContentEncodingError):
        # Some servers send raw deflate without the zlib wrapper.
        return _decode_raw_deflate(body, limit)


def _decode_br(body: bytes, limit: int) -> bytes:
    try:
        import brotli
    except ImportError:
        raise ContentEncodingError("br body needs the 'brotli' package (pip install brotli)") from None
    inflater = brotli.Decompressor()
    parts, size = [], 0
    for start in range(0, len(body), 16 * 1024):  # small input steps bound each step's output
        chunk = inflater.process(body[start:start + 16 * 1024])
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge("br", limit)
        parts.append(chunk)
    if not inflater.is_finished():
        raise ContentEncodingError("body is not valid br: it ends before its last block")
    return b"".join(parts)


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "zstd": _decode_zstd,
    "gzip": _decode_gzip,
    "x-gzip": _decode_gzip,
    "deflate": _decode_deflate,
    "br": _decode_br,
}


def encodings_of(content_encoding: str | None) -> list[str]:
    """The codings named in a Content-Encoding value, in the order they were applied."""
    if not content_encoding:
        return []
    return [c.strip().lower() for c in content_encoding.split(",") if c.strip() and c.strip() != "identity"]


def is_decodable(content_encoding: str | None) -> bool:
    codings = encodings_of(content_encoding)
    return bool(codings) and all(c in _DECODERS for c in codings)


def decode_body(body: bytes, content_encoding: str | None, limit: int = DEFAULT_LIMIT) -> bytes:
    """Undo every coding in ``content_encoding``, last applied first, never producing more than ``limit`` bytes.

    Raises ContentEncodingError naming the coding that failed or is unknown, and its
    subclass BodyTooLarge when the output would pass ``limit``.
    """
    for coding in reversed(encodings_of(content_encoding)):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise ContentEncodingError(f"unsupported Content-Encoding {coding!r}")
        try:
            body = decoder(body, limit)
        except ContentEncodingError:
            raise
        except Exception as err:
            raise ContentEncodingError(f"body is not valid {coding}: {err}") from None
    return body
