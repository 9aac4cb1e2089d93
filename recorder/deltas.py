"""Secrets a model streams in pieces: a key it quotes arrives as several `*.delta` events, none whole.

Each event alone holds no credential shape, but the deltas of one item, joined as a client
joins them, do. The deltas are joined per item, the joined text is searched with the
recording's rules, and each delta holding a piece of a secret is rewritten: the first
piece becomes the placeholder, the later ones are dropped, so the joined text reads as
the `*.done` event and the final response (scrubbed whole) read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from rec.redaction import PLACEHOLDER

# (payload index, start, end, replacement): bytes of one payload to replace.
Edit = tuple[int, int, int, bytes]
_DELTA_VALUE = re.compile(r'"delta"\s*:\s*"')
_DECODER = json.JSONDecoder()


def split_secret_edits(payloads: list[bytes],
                       spans_of: Callable[[bytes], list[tuple[int, int, str]]]) -> list[Edit]:
    """Edits that remove every secret found only in the joined deltas of these JSON events, in payload order."""
    groups: dict[tuple[object, ...], list[tuple[int, int, int, bytes]]] = {}  # item -> (payload, start, end, piece)
    for index, payload in enumerate(payloads):
        if b'"delta"' not in payload:
            continue
        found = _delta(payload)
        if found is None:
            continue
        key, start, end, piece = found
        groups.setdefault(key, []).append((index, start, end, piece))
    edits: list[Edit] = []
    for deltas in groups.values():
        if len(deltas) > 1:
            edits += _group_edits(deltas, spans_of)
    return sorted(edits)


def _delta(payload: bytes) -> tuple[tuple[object, ...], int, int, bytes] | None:
    """The item a delta event belongs to, where its delta string stands (bytes) and its text (UTF-8)."""
    try:
        text = payload.decode()
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("delta"), str):
        return None
    match = _DELTA_VALUE.search(text)
    if match is None:
        return None
    value, end = _DECODER.raw_decode(text, match.end() - 1)  # the string starting at its opening quote
    if value != event["delta"]:
        return None  # "delta" stood somewhere else first (inside another string): leave this event alone
    start = len(text[:match.end() - 1].encode())
    key = tuple(event.get(k) for k in ("type", "item_id", "output_index", "content_index", "summary_index"))
    return key, start, len(text[:end].encode()), value.encode()


def _group_edits(deltas: list[tuple[int, int, int, bytes]],
                 spans_of: Callable[[bytes], list[tuple[int, int, str]]]) -> list[Edit]:
    bounds, cursor = [], 0
    for _, _, _, piece in deltas:
        bounds.append((cursor, cursor + len(piece)))
        cursor += len(piece)
    joined = b"".join(piece for _, _, _, piece in deltas)
    # A secret inside one delta is the byte-level scrub's; only those across deltas are left to this.
    crossing = [(s, e) for s, e, _ in spans_of(joined)
                if not any(a <= s and e <= b for a, b in bounds)]
    edits: list[Edit] = []
    for (index, start, end, _), (a, b) in zip(deltas, bounds, strict=True):
        touching = [(s, e) for s, e in crossing if s < b and e > a]
        if not touching:
            continue
        out, at = [], a
        for s, e in touching:
            if s > at:
                out.append(joined[at:s])
            if s >= a:  # the piece where the secret starts holds the placeholder; later pieces drop theirs
                out.append(PLACEHOLDER.encode())
            at = max(at, min(e, b))
        out.append(joined[at:b])
        value = b"".join(out).decode(errors="replace")
        edits.append((index, start, end, json.dumps(value, ensure_ascii=False).encode()))
    return edits


def sse_payloads(body: bytes) -> list[tuple[int, bytes]]:
    """(offset, JSON) of each single-line `data:` field of an event stream."""
    found, pos = [], 0
    while pos < len(body):
        end = body.find(b"\n", pos)
        end = len(body) if end == -1 else end
        line = body[pos:end].rstrip(b"\r")
        if line.startswith(b"data:"):
            skip = 6 if line.startswith(b"data: ") else 5
            found.append((pos + skip, line[skip:]))
        pos = end + 1
    return found
