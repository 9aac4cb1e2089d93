"""Redaction rules: what counts as a secret, shared by the recorder (which scrubs) and `rec check` (which looks).

Rules (``--redact``, repeatable):
- ``header:NAME`` — the value of that request or response header;
- ``json:PATH`` — the value at a JSON path (``metadata.user_id``, ``input[*].content``)
  of a request or response JSON body; the value found is then scrubbed everywhere;
- ``regex:PATTERN`` — every match of a regular expression, anywhere.

By default: Authorization, api-key, x-api-key, OpenAI-Organization, OpenAI-Project,
Cookie and Set-Cookie values, credential query parameters, and anything shaped like an
OpenAI key (``sk-...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rec.normalize import parse_path

PLACEHOLDER = "[REDACTED]"

DEFAULT_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "openai-organization", "openai-project",
    "cookie", "set-cookie",
})
# OpenAI keys: sk-..., sk-proj-..., sk-svcacct-... (letters, digits, - and _).
OPENAI_KEY = re.compile(rb"sk-[A-Za-z0-9_-]{16,}")
# Query parameters whose value is a credential whatever it looks like (not only sk-...).
SECRET_QUERY_NAMES = frozenset({"key", "api-key", "api_key", "apikey", "token", "access_token", "auth", "auth_token",
                                "password", "secret", "client_secret", "code", "sig", "signature"})


class RedactionRuleError(ValueError):
    """A --redact rule that cannot be used; the message names it."""


@dataclass(frozen=True)
class Rules:
    """The redaction settings: which headers, which JSON paths, which patterns."""

    headers: frozenset[str] = DEFAULT_SECRET_HEADERS
    json_paths: tuple[tuple[str, ...], ...] = ()
    patterns: tuple[re.Pattern[bytes], ...] = (OPENAI_KEY,)

    def with_rules(self, specs: Iterable[str]) -> Rules:
        """These rules plus ``--redact`` specs; raises RedactionRuleError naming a bad one."""
        headers, paths, patterns = set(self.headers), list(self.json_paths), list(self.patterns)
        for spec in specs:
            kind, sep, value = spec.partition(":")
            if not sep or not value:
                raise RedactionRuleError(f"redaction rule {spec!r} must be header:NAME, json:PATH or regex:PATTERN")
            if kind == "header":
                headers.add(value.lower())
            elif kind == "json":
                paths.append(parse_path(value))
            elif kind == "regex":
                try:
                    patterns.append(re.compile(value.encode()))
                except re.error as err:
                    raise RedactionRuleError(f"redaction rule {spec!r}: bad regular expression: {err}") from None
            else:
                raise RedactionRuleError(f"redaction rule {spec!r}: unknown kind {kind!r}; "
                                         "use header:NAME, json:PATH or regex:PATTERN")
        return Rules(frozenset(headers), tuple(paths), tuple(patterns))


def values_at(value: Any, path: tuple[str, ...]) -> Iterable[Any]:
    """The values at a parsed JSON path (rec.normalize.parse_path: keys, list indexes, `*` for any)."""
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


def scalars(value: Any) -> Iterable[str]:
    """The strings and numbers inside a JSON value: what a json: rule redacts."""
    if isinstance(value, dict):
        for child in value.values():
            yield from scalars(child)
    elif isinstance(value, list):
        for child in value:
            yield from scalars(child)
    elif value is not None and not isinstance(value, bool):
        yield str(value)
