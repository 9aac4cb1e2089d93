"""Normalization shared by `rec diff` and the replayer's body matching.

Two runs of the same conversation differ in ids, UUIDs, timestamps and the Codex id
headers; normalizing masks those so what remains is what the client meant. Each rule
is a small named function; a Normalizer composes them.

Ids are not simply blanked: each distinct id becomes ``<id:N>`` by order of first
appearance, so "this output answers that call" survives normalization while the
values themselves do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Headers = list[tuple[str, str]]

# Body keys whose values are volatile and left out of comparisons by default.
DEFAULT_IGNORED_PATHS: tuple[str, ...] = ("prompt_cache_key", "client_metadata")

# Keys whose string values are ids chosen per run (by the client or the API).
ID_KEYS = frozenset({"id", "call_id", "previous_response_id", "response_id", "item_id", "stream_id"})
TIMESTAMP_KEYS = frozenset({"created_at", "completed_at", "started_at", "timestamp", "expires_at"})

# Headers that carry per-run ids, times, sizes, versions or secrets.
DEFAULT_VOLATILE_HEADERS = frozenset({
    "authorization", "api-key", "x-api-key", "cookie", "set-cookie", "openai-organization", "openai-project",
    "date", "content-length", "host", "user-agent", "connection", "keep-alive", "transfer-encoding",
    "x-request-id", "openai-processing-ms", "openai-version", "cf-ray", "x-envoy-upstream-service-time",
    "session-id", "session_id", "thread-id", "conversation_id", "x-client-request-id", "x-codex-window-id",
    "x-codex-turn-metadata", "x-codex-turn-state", "x-openai-subagent", "originator", "version",
    "sec-websocket-key", "sec-websocket-accept", "idempotency-key",
})
VOLATILE_HEADER_PREFIXES = ("x-stainless-", "x-ratelimit-")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# API-style ids (resp_68b1..., msg_0a3f..., call_Xy9...): a short lowercase prefix, an
# underscore, then 8+ letters and digits with at least one digit, so words like
# "function_call_output" are not taken for ids.
_PREFIXED_ID = re.compile(r"^[a-z]{2,12}_(?=[A-Za-z]*\d)[A-Za-z0-9-]{8,}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


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


def _drop_path(value: Any, path: Sequence[str]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if not rest:
            return {k: v for k, v in value.items() if k != head and head != "*"}
        return {k: (_drop_path(v, rest) if head in ("*", k) else v) for k, v in value.items()}
    if isinstance(value, list):
        if head == "*":
            return [_drop_path(v, rest) for v in value] if rest else []
        if head.isdigit():
            i = int(head)
            if not rest:
                return [v for j, v in enumerate(value) if j != i]
            return [(_drop_path(v, rest) if j == i else v) for j, v in enumerate(value)]
    return value


@dataclass
class _IdMasker:
    """Maps each distinct volatile id to <id:N>, in order of first appearance."""

    seen: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: str) -> str:
        if value not in self.seen:
            self.seen[value] = f"<id:{len(self.seen) + 1}>"
        return self.seen[value]


def is_volatile_id(key: str | None, value: str) -> bool:
    if key in ID_KEYS and value:
        return True
    return bool(_UUID.fullmatch(value) or _PREFIXED_ID.match(value))


def is_timestamp(key: str | None, value: Any) -> bool:
    if key in TIMESTAMP_KEYS and isinstance(value, int | float | str):
        return True
    return isinstance(value, str) and bool(_ISO_TIME.match(value))


def _mask(value: Any, key: str | None, ids: _IdMasker) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, ids) for v in value]
    if is_timestamp(key, value):
        return "<timestamp>"
    if isinstance(value, str):
        if is_volatile_id(key, value):
            return ids(value)
        if "-" in value and _UUID.search(value):  # the cheap test first: long prompts have no UUID
            return _UUID.sub(lambda m: ids(m.group(0)), value)
    return value


@dataclass(frozen=True)
class Normalizer:
    """What to ignore when comparing requests and responses.

    ``ignore`` lists JSON paths dropped from bodies (`client_metadata`, `input[*].id`,
    `tools[0]`); ``mask_volatile`` masks ids, UUIDs and timestamps everywhere.
    """

    ignore: tuple[str, ...] = DEFAULT_IGNORED_PATHS
    mask_volatile: bool = True
    volatile_headers: frozenset[str] = DEFAULT_VOLATILE_HEADERS
    ignore_headers: tuple[str, ...] = ()

    def with_ignored(self, paths: Iterable[str]) -> Normalizer:
        return Normalizer(
            ignore=(*self.ignore, *paths),
            mask_volatile=self.mask_volatile,
            volatile_headers=self.volatile_headers,
            ignore_headers=self.ignore_headers,
        )

    def body(self, value: Any) -> Any:
        """A JSON value with ignored paths dropped and volatile values masked."""
        return self.mask(self.drop_ignored(value))

    def drop_ignored(self, value: Any) -> Any:
        """A request body without the ``ignore`` paths (the paths are relative to the body)."""
        for path in self.ignore:
            value = _drop_path(value, parse_path(path))
        return value

    def mask(self, value: Any) -> Any:
        """Ids (as <id:N>, numbered across the whole value), UUIDs and timestamps masked."""
        return _mask(value, None, _IdMasker()) if self.mask_volatile else value

    def is_volatile_header(self, name: str) -> bool:
        lowered = name.lower()
        return (
            lowered in self.volatile_headers
            or lowered in (h.lower() for h in self.ignore_headers)
            or lowered.startswith(VOLATILE_HEADER_PREFIXES)
        )

    def headers(self, headers: Headers) -> Headers:
        """Headers minus the volatile ones, names lowercased, in their original order."""
        return [(k.lower(), v) for k, v in headers if not self.is_volatile_header(k)]


DEFAULT_NORMALIZER = Normalizer()
