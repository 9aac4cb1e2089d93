"""Redaction: secrets are replaced by a fixed placeholder before anything is written.

Everything reduces to byte-level substitution, so framing survives: an SSE event
keeps its lines, a JSON string stays a JSON string (the placeholder has no quote,
backslash or newline), and a secret split across two network reads is still found
(chunks are redacted as one stream, then cut back at their original boundaries).

What is a secret is ``rec.redaction`` (shared with `rec check`): credentials by shape
(``detectors()``), the ``--redact`` rules, and values learned here from credential
headers, query parameters and JSON keys, which are then scrubbed wherever else they
appear, as sent and in their common encodings (JSON-escaped, percent-encoded).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from rec.jsonpath import values_at
from rec.redaction import (
    MIN_CREDENTIAL_LENGTH,
    PLACEHOLDER,
    SECRET_JSON_KEYS,
    SECRET_QUERY_NAMES,
    RedactionRuleError,
    Rules,
    merge_spans,
    replace_spans,
    scalars,
    values_under_keys,
)
from recorder.deltas import split_secret_edits, sse_payloads

__all__ = ["PLACEHOLDER", "RedactionRuleError", "Redactor", "Rules"]
PLACEHOLDER_BYTES = PLACEHOLDER.encode()
# A value a json: rule names is the project's own word that it is secret: learned from a shorter length than a
# value found by place, but never as short as a word or a number that would scrub innocent text.
_MIN_RULE_VALUE = 8
_AUTH_SCHEMES = ("bearer", "basic", "token")
# A JSON body is parsed for its secret keys only when one is named in it.
_SECRET_KEY_NAMES = tuple(f'"{key}"'.encode() for key in SECRET_JSON_KEYS)


def encoded_forms(value: str) -> set[bytes]:
    """``value`` as it can travel: as is, JSON-escaped (with or without ``\\/``) and percent-encoded."""
    escaped = json.dumps(value)[1:-1]
    return {value.encode(), escaped.encode(), escaped.replace("/", "\\/").encode(),
            quote(value, safe="").encode(), quote(value, safe="/").encode()}


def header_credentials(name: str, value: str) -> list[str]:
    """The credential values a secret header carries: cookie values (never their attributes), a scheme's token."""
    lowered = name.lower()
    if lowered == "cookie":
        return [pair.partition("=")[2].strip() for pair in value.split(";")]
    if lowered == "set-cookie":
        # `name=value; Path=/; Domain=.api.openai.com; Expires=...; HttpOnly`: only the value is the secret.
        return [value.partition(";")[0].partition("=")[2].strip()]
    scheme, _, token = value.partition(" ")
    if token and scheme.lower() in _AUTH_SCHEMES:
        return [value, token.strip()]
    return [value]


@dataclass
class Redactor:
    """Scrubs one recording's bytes. It learns secret values from headers and bodies as it sees them."""

    rules: Rules = field(default_factory=Rules)
    literals: set[bytes] = field(default_factory=set)
    _pattern: re.Pattern[bytes] | None = None

    def learn(self, value: str, min_length: int = MIN_CREDENTIAL_LENGTH) -> None:
        """Scrub this value wherever it appears from now on, in its encodings too; shorter than a credential, never."""
        if len(value) < min_length or value == PLACEHOLDER:
            return
        forms = encoded_forms(value) - self.literals
        if forms:
            self.literals |= forms
            self._pattern = None

    def learn_header(self, name: str, value: str) -> None:
        for credential in header_credentials(name, value):
            self.learn(credential)

    def learn_json(self, content: bytes) -> None:
        """Learn the values of credential keys (``access_token``, ...) and of json: rule paths in this body."""
        paths = self.rules.json_paths
        if not content or (not paths and not any(key in content for key in _SECRET_KEY_NAMES)):
            return
        try:
            document = json.loads(content)
        except ValueError:
            return
        for value in values_under_keys(document, SECRET_JSON_KEYS):
            self.learn(value)
        for path in paths:
            for found in values_at(document, path):
                for scalar in scalars(found):
                    self.learn(scalar, _MIN_RULE_VALUE)

    def _literals(self) -> re.Pattern[bytes] | None:
        if self._pattern is None and self.literals:
            # Longest literals first, so a token inside a longer header value is not cut short.
            literals = sorted(self.literals, key=len, reverse=True)
            self._pattern = re.compile(b"|".join(re.escape(lit) for lit in literals))
        return self._pattern

    def spans(self, data: bytes) -> list[tuple[int, int, str]]:
        """Where secrets stand in ``data``: learned values, credentials by shape, --redact regexes."""
        if not data:
            return []
        literals = self._literals()
        learned = [(m.start(), m.end(), "learned") for m in literals.finditer(data)] if literals else []
        return merge_spans([*learned, *self.rules.credentials(data)])

    def scrub(self, data: bytes) -> bytes:
        return replace_spans(data, self.spans(data)) if data else data

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def scrub_chunks(self, chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
        """Redact a chunked body as one stream, keeping each chunk's time and boundary.

        A secret that spans chunks is replaced in the chunk where it starts and removed
        from the ones after, so no piece of it survives a cut; one a model streamed over
        several SSE deltas is taken out of each (recorder.deltas).
        """
        joined = b"".join(data for _, data in chunks)
        if b"data:" in joined:
            payloads = sse_payloads(joined)
            edits = [(payloads[i][0] + start, payloads[i][0] + end, replacement) for i, start, end, replacement
                     in split_secret_edits([payload for _, payload in payloads], self.spans)]
            if edits:
                chunks = rewrite_chunks(chunks, edits)
                joined = b"".join(data for _, data in chunks)
        return rewrite_chunks(chunks, [(start, end, PLACEHOLDER_BYTES) for start, end, _ in self.spans(joined)])

    def scrub_frames(self, payloads: list[bytes]) -> list[bytes]:
        """Redact WebSocket messages: each on its own, and secrets a model streamed over several deltas."""
        edited = list(payloads)
        for index, start, end, replacement in reversed(split_secret_edits(payloads, self.spans)):
            edited[index] = edited[index][:start] + replacement + edited[index][end:]
        return [self.scrub(payload) for payload in edited]

    def learn_query(self, pairs: list[tuple[str, str]]) -> None:
        for name, value in pairs:
            if name.lower() in SECRET_QUERY_NAMES:
                self.learn(value)

    def query(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Query parameters secret by name become the placeholder (their values learned); the rest are scrubbed."""
        self.learn_query(pairs)
        return [(name, PLACEHOLDER if name.lower() in SECRET_QUERY_NAMES else self.scrub_text(value))
                for name, value in pairs]

    def learn_headers(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() in self.rules.headers:
                self.learn_header(name, value)

    def headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Secret headers become the placeholder; their values are learned; the rest are scrubbed."""
        self.learn_headers(headers)
        return [(name, PLACEHOLDER if name.lower() in self.rules.headers else self.scrub_text(value))
                for name, value in headers]


def rewrite_chunks(chunks: list[tuple[float, bytes]], edits: list[tuple[int, int, bytes]]) -> list[tuple[float, bytes]]:
    """Chunks with edits (start, end, replacement: ordered, apart, offsets in the joined body) made, each chunk
    keeping its time; an edit spanning chunks puts its replacement in the chunk where it starts."""
    if not edits:
        return chunks
    joined = b"".join(data for _, data in chunks)
    out: list[tuple[float, bytes]] = []
    start = 0
    for at, data in chunks:
        end = start + len(data)
        pieces: list[bytes] = []
        cursor = start
        for e_start, e_end, replacement in edits:
            if e_end <= start or e_start >= end:
                continue
            pieces.append(joined[cursor:max(e_start, start)])
            if e_start >= start:
                pieces.append(replacement)
            cursor = min(e_end, end)
        pieces.append(joined[cursor:end])
        out.append((at, b"".join(pieces)))
        start = end
    return out
