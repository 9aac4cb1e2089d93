"""Undo an HTTP Content-Encoding (zstd, gzip, deflate, br) on a request or response body."""

from __future__ import annotations

import gzip
import zlib

import zstandard


class ContentEncodingError(ValueError):
    """The body does not decode with the encoding its headers claim."""


def _decode_zstd(body: bytes) -> bytes:
    # stream_reader copes with frames that do not record their content size.
    with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as reader:
        return reader.read()


def _decode_deflate(body: bytes) -> bytes:
    try:
        return zlib.decompress(body)
    except zlib.error:
        # Some servers send raw deflate without the zlib wrapper.
        return zlib.decompress(body, -zlib.MAX_WBITS)


def _decode_br(body: bytes) -> bytes:
    try:
        import brotli
    except ImportError:
        raise ContentEncodingError("br body needs the 'brotli' package (pip install brotli)") from None
    return brotli.decompress(body)


_DECODERS = {
    "zstd": _decode_zstd,
    "gzip": gzip.decompress,
    "x-gzip": gzip.decompress,
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


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """Undo every coding in ``content_encoding``, last applied first.

    Raises ContentEncodingError naming the coding that failed or is unknown.
    """
    for coding in reversed(encodings_of(content_encoding)):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise ContentEncodingError(f"unsupported Content-Encoding {coding!r}")
        try:
            body = decoder(body)
        except ContentEncodingError:
            raise
        except Exception as err:
            raise ContentEncodingError(f"body is not valid {coding}: {err}") from None
    return body
