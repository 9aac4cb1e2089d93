"""Server-sent events: split a text/event-stream body into events, as clients do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    """One event: its ``event:`` name, its joined ``data:`` lines, and its raw bytes on the wire."""

    event: str | None
    data: str | None
    raw: bytes


def split_events(body: bytes) -> list[SseEvent]:
    """Split a stream into events at blank lines; a trailing partial event is kept too.

    Comments (lines starting with ':') and unknown fields are ignored, as the SSE spec says.
    """
    events: list[SseEvent] = []
    normalized = body.replace(b"\r\n", b"\n")
    pos = 0
    while pos < len(normalized):
        end = normalized.find(b"\n\n", pos)
        stop = len(normalized) if end == -1 else end + 2
        raw = normalized[pos:stop]
        pos = stop
        event = _parse_block(raw)
        if event is not None:
            events.append(event)
    return events


def _parse_block(raw: bytes) -> SseEvent | None:
    name: str | None = None
    data_lines: list[str] = []
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data_lines.append(value)
    if name is None and not data_lines:
        return None
    return SseEvent(event=name, data="\n".join(data_lines) if data_lines else None, raw=raw)


def is_event_stream(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == "text/event-stream"
