"""A secret a model streams in pieces, one SSE delta or WebSocket message each, is taken out of every piece."""

from __future__ import annotations

import json

from rec.sse import split_events
from recorder.redact import Redactor
from tests.support.credentials import CREDENTIALS, ENV_FILE, PIECES
from tests.support.upstream import sse_event

TEXT = f"Your .env holds:\n{ENV_FILE}\nKeep it out of git."


def delta_events(size: int) -> list[dict[str, object]]:
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [{"type": "response.output_text.delta", **where, "delta": TEXT[i:i + size]}
            for i in range(0, len(TEXT), size)]


def test_deltas_of_four_characters_join_to_the_scrubbed_text_and_no_piece_is_left() -> None:
    body = b"".join(sse_event(event) for event in delta_events(4))
    chunks = [(float(i), body[i:i + 97]) for i in range(0, len(body), 97)]
    out = Redactor().scrub_chunks(chunks)
    assert [at for at, _ in out] == [at for at, _ in chunks]
    stored = b"".join(data for _, data in out)
    joined = "".join(json.loads(event.data or "")["delta"] for event in split_events(stored))
    assert joined == Redactor().scrub(TEXT.encode()).decode()
    assert "AWS_ACCESS_KEY_ID=[REDACTED]" in joined and "Keep it out of git." in joined
    for value in (*CREDENTIALS.values(), *PIECES):
        assert value not in joined and value[:12] not in joined


def test_websocket_messages_carrying_pieces_are_scrubbed_together() -> None:
    frames = [json.dumps(event).encode() for event in delta_events(5)]
    out = Redactor().scrub_frames(frames)
    joined = "".join(json.loads(frame)["delta"] for frame in out)
    assert joined == Redactor().scrub(TEXT.encode()).decode()
