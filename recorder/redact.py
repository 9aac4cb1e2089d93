"""Redaction: secrets are replaced by a fixed placeholder before anything is written.

Everything reduces to byte-level substitution, so framing survives: an SSE event
keeps its lines, a JSON string stays a JSON string (the placeholder has no quote,
backslash or newline), and a secret split across two network reads is still found
(chunks are redacted as one stream, then cut back at their original boundaries).

The rules (``--redact`` and the defaults) are ``rec.redaction.Rules``, shared with `rec
check`. A value taken from a redacted header (a bearer token, a cookie, an org id) is also
scrubbed wherever else it appears.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from rec.redaction import PLACEHOLDER, SECRET_QUERY_NAMES, RedactionRuleError, Rules, scalars, values_at

__all__ = ["PLACEHOLDER", "RedactionRuleError", "Redactor", "Rules"]
_PLACEHOLDER_BYTES = PLACEHOLDER.encode()
# Short values would scrub innocent text (a cookie "a=1"); below this they are only
# replaced in their own header.
_MIN_LITERAL = 8


@dataclass
class Redactor:
    """Scrubs one recording's bytes. It learns secret values from headers as it sees them."""

    rules: Rules = field(default_factory=Rules)
    literals: set[bytes] = field(default_factory=set)
    _pattern: re.Pattern[bytes] | None = None

    def learn(self, value: str) -> None:
        """Scrub this value wherever it appears from now on (and its JSON-escaped form)."""
        candidates = {value}
        # "Bearer sk-..." -> also the token alone; "a=1; b=2" -> each cookie value.
        scheme, _, token = value.partition(" ")
        if token and scheme.lower() in ("bearer", "basic", "token"):
            candidates.add(token)
        for part in value.split(";"):
            _, eq, cookie_value = part.strip().partition("=")
            if eq:
                candidates.add(cookie_value)
        for candidate in candidates:
            if len(candidate) >= _MIN_LITERAL:
                raw = candidate.encode()
                escaped = json.dumps(candidate)[1:-1].encode()
                for form in {raw, escaped}:
                    if form not in self.literals:
                        self.literals.add(form)
                        self._pattern = None

    def learn_json(self, content: bytes) -> None:
        """Scrub the values found at the json: rule paths of this body."""
        if not self.rules.json_paths:
            return
        try:
            document = json.loads(content)
        except ValueError:
            return
        for path in self.rules.json_paths:
            for found in values_at(document, path):
                for scalar in scalars(found):
                    self.learn(scalar)

    def _compiled(self) -> re.Pattern[bytes]:
        if self._pattern is None:
            # Longest literals first, so a token inside a longer header value is not cut short.
            literals = sorted(self.literals, key=len, reverse=True)
            alternatives = [re.escape(lit) for lit in literals] + [p.pattern for p in self.rules.patterns]
            self._pattern = re.compile(b"|".join(b"(?:" + a + b")" for a in alternatives))
        return self._pattern

    def scrub(self, data: bytes) -> bytes:
        return self._compiled().sub(_PLACEHOLDER_BYTES, data) if data else data

    def scrub_text(self, text: str) -> str:
        return self.scrub(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")

    def scrub_chunks(self, chunks: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
        """Redact a chunked body as one stream, keeping each chunk's time and boundary.

        A secret that spans chunks is replaced in the chunk where it starts and removed
        from the ones after, so no piece of it survives a cut.
        """
        joined = b"".join(data for _, data in chunks)
        matches = [(m.start(), m.end()) for m in self._compiled().finditer(joined)] if joined else []
        if not matches:
            return chunks
        out: list[tuple[float, bytes]] = []
        start = 0
        for at, data in chunks:
            end = start + len(data)
            pieces: list[bytes] = []
            cursor = start
            for m_start, m_end in matches:
                if m_end <= start or m_start >= end:
                    continue
                pieces.append(joined[cursor:max(m_start, start)])
                if m_start >= start:
                    pieces.append(_PLACEHOLDER_BYTES)
                cursor = min(m_end, end)
            pieces.append(joined[cursor:end])
            out.append((at, b"".join(pieces)))
            start = end
        return out

    def query(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Query parameters secret by name become the placeholder (their values learned); the rest are scrubbed."""
        for name, value in pairs:
            if name.lower() in SECRET_QUERY_NAMES:
                self.learn(value)
        return [(name, PLACEHOLDER if name.lower() in SECRET_QUERY_NAMES else self.scrub_text(value))
                for name, value in pairs]

    def headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Secret headers become the placeholder; their values are learned; the rest are scrubbed."""
        for name, value in headers:
            if name.lower() in self.rules.headers:
                self.learn(value)
        return [(name, PLACEHOLDER if name.lower() in self.rules.headers else self.scrub_text(value))
                for name, value in headers]
