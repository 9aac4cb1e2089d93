"""JSON paths (`input[*].id`, `metadata.user_id`): parsed once, then walked; shared by the normalizer's
`ignore` paths and the redaction rules' `json:` paths."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def parse_path(path: str) -> tuple[str, ...]:
    """`input[*].id` -> ("input", "*", "id"); a leading `$.` is allowed."""
    path = path.removeprefix("$.").removeprefix("$")
    parts: list[str] = []
    for piece in path.split("."):
        while "[" in piece:
            head, _, rest = piece.partition("[")
            index, _, piece = rest.partition("]")
            if head:
                parts.append(head)
            parts.append("*" if index in ("*", "") else index)
        if piece:
            parts.append(piece)
    return tuple(parts)


def values_at(value: Any, path: tuple[str, ...]) -> Iterable[Any]:
    """The values at a path from parse_path (keys, list indexes, `*` for any)."""
    if not path:
        yield value
        return
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        for key, child in value.items():
            if head in ("*", key):
                yield from values_at(child, rest)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if head == "*" or head == str(index):
                yield from values_at(child, rest)
