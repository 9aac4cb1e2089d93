"""Redaction rules: what counts as a secret, shared by the recorder (which scrubs), `rec check` (which looks)
and the normalizer (which compares a live request holding a secret with its scrubbed recording).

A secret is found three ways:

- by place: the value of a credential header (``DEFAULT_SECRET_HEADERS``), query parameter
  (``SECRET_QUERY_NAMES``) or JSON key (``SECRET_JSON_KEYS``);
- by shape: ``detectors()``, the credential shapes of the detect-secrets library's plugins
  (AWS, GitHub, GitLab, Slack, Stripe, JWTs, private keys, ...) plus the few it does not know
  (OpenAI keys, GitHub fine-grained tokens, Google API keys, bearer tokens). Each runs only on
  text holding one of the starts its pattern spells (``detectors_for``: one RE2 pass names them);
- by the project's own rules (``--redact``, repeatable): ``header:NAME`` (that header's value),
  ``json:PATH`` (the value at a JSON path: ``metadata.user_id``, ``input[*].content``),
  ``regex:PATTERN`` (every match), and ``allow:PATTERN`` (a known false positive: a found
  value that matches it whole is left alone).
"""

from __future__ import annotations

import functools
import re
import re._parser as regex_parser  # type: ignore[import-not-found]  # typeshed has no stub for it
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import re2

from rec.jsonpath import parse_path

PLACEHOLDER = "[REDACTED]"
PLACEHOLDER_BYTES = PLACEHOLDER.encode()

DEFAULT_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "openai-organization", "openai-project",
    "cookie", "set-cookie",
    # Azure API Management and Google's API key headers, which gateways in front of the API use.
    "ocp-apim-subscription-key", "x-goog-api-key",
})
# Query parameters whose value is a credential whatever it looks like (not only sk-...).
SECRET_QUERY_NAMES = frozenset({"key", "api-key", "api_key", "apikey", "token", "access_token", "auth", "auth_token",
                                "password", "secret", "client_secret", "code", "sig", "signature"})
# JSON keys whose value is a credential (an OAuth answer, a config echoed back), so a token is known before the
# header that would reveal it is seen. Not `token`: the API's logprobs name each text token so.
SECRET_JSON_KEYS = frozenset({"access_token", "refresh_token", "id_token", "client_secret", "api_key", "apikey",
                              "password", "secret_key", "private_key"})
# Below this a value is not learned as a credential (then scrubbed everywhere): a cookie `a=1`, a `Path=/v1`.
# The shortest credentials rec learns (org ids, API keys, session cookies) are longer.
MIN_CREDENTIAL_LENGTH = 16

# OpenAI keys: sk-..., sk-proj-..., sk-svcacct-... (letters, digits, - and _).
OPENAI_KEY = re.compile(rb"sk-[A-Za-z0-9_-]{16,}")
# A detector's match is extended over the rest of its token, so no tail of a longer key survives a scrub.
_TOKEN_TAIL = rb"[A-Za-z0-9_-]*"
# detect-secrets plugins whose every match is a credential by its shape alone; the keyword and entropy
# plugins guess from context, and would scrub ordinary prose and base64 content.
_SHAPE_PLUGINS = (
    ("aws", "AWSKeyDetector"), ("github_token", "GitHubTokenDetector"), ("gitlab_token", "GitLabTokenDetector"),
    ("slack", "SlackDetector"), ("stripe", "StripeDetector"), ("pypi_token", "PypiTokenDetector"),
    ("sendgrid", "SendGridDetector"), ("square_oauth", "SquareOAuthDetector"),
    ("azure_storage_key", "AzureStorageKeyDetector"),
)


@dataclass(frozen=True)
class Detector:
    """A kind of credential a person reads in a report, and its shape.

    A ``secret`` group narrows the match to the credential; ``valid`` has the last word on a
    match; a match must start a token (not sit inside a longer run of letters and digits, as a
    base64 blob holds by chance).
    """

    kind: str
    pattern: re.Pattern[bytes]
    valid: Callable[[bytes], bool] | None = None

    def spans(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Where this kind of credential stands in ``data``."""
        named = "secret" in self.pattern.groupindex
        for match in self.pattern.finditer(data):
            start, end = match.span("secret") if named else match.span()
            if start and data[start - 1:start].isalnum():
                continue
            if self.valid is None or self.valid(data[start:end]):
                yield start, end


@functools.cache
def detectors() -> tuple[Detector, ...]:
    """Every credential shape rec scrubs and `rec check` reports (built once; imports detect-secrets)."""
    import importlib

    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector

    found: list[Detector] = [Detector("OpenAI API Key", OPENAI_KEY)]
    for module, name in _SHAPE_PLUGINS:
        plugin = getattr(importlib.import_module(f"detect_secrets.plugins.{module}"), name)
        # AWS's second pattern finds a secret key by the words around it; its key id is the shape.
        patterns = plugin.denylist[:1] if plugin is AWSKeyDetector else plugin.denylist
        for pattern in patterns:
            found.append(Detector(plugin.secret_type, re.compile(
                b"(?:" + pattern.pattern.encode() + b")" + _TOKEN_TAIL, pattern.flags & re.IGNORECASE)))
    # detect-secrets finds a private key by its first line; the scrub takes the whole block, up to its END
    # line (or, cut short, to the end of its base64), never past a JSON string's closing quote.
    begins = b"|".join(re.escape(p.pattern.encode()) for p in PrivateKeyDetector.denylist
                       if p.pattern.startswith("BEGIN"))
    found.append(Detector(PrivateKeyDetector.secret_type, re.compile(
        rb"-----(?:" + begins + rb")(?: BLOCK)?-----(?:(?:[^\"\\]|\\.)*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        rb"|(?:[A-Za-z0-9+/=\s]|\\[nr/])*)")))
    # detect-secrets' JWT pattern stops before the signature; this one takes it, and the plugin's own check
    # (two base64url JSON parts) decides.
    found.append(Detector(JwtTokenDetector.secret_type, re.compile(
        rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        lambda token: JwtTokenDetector.is_formally_valid(token.decode())))
    # Shapes detect-secrets does not know.
    found += [
        Detector("GitHub Fine-Grained Token", re.compile(rb"github_pat_[A-Za-z0-9_]{22,}")),
        Detector("Google API Key", re.compile(rb"AIza[0-9A-Za-z_-]{35}" + _TOKEN_TAIL)),
        Detector("AWS Secret Access Key", re.compile(
            rb"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")),
        # A token with a digit in it: prose about "Bearer YOUR_TOKEN_HERE" is not a credential.
        Detector("Bearer Token", re.compile(
            rb"(?i)\bbearer\s+(?P<secret>(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{16,})")),
    ]
    return tuple(found)


# A start shorter than this would let too much text through to the detectors.
MIN_ANCHOR_ATOMS = 3
# Past this many starts a pattern's start is cut short, not spelled out further.
MAX_ANCHORS = 256


def anchors(pattern: re.Pattern[bytes]) -> list[str] | None:
    """The starts of ``pattern``'s matches, as RE2 patterns over Latin-1 (one of them begins every match), or None
    when the pattern begins with no literal text worth looking for.

    Read from the pattern as Python parses it: its leading literals, small character sets and alternations,
    under the pattern's case-blindness; zero-width assertions are passed over (they only narrow a match).
    """
    blind = bool(pattern.flags & re.IGNORECASE)
    starts, _ = _starts(regex_parser.parse(pattern.pattern.decode("latin-1"), pattern.flags), blind)
    return ["".join(start) for start in starts] if min(map(len, starts)) >= MIN_ANCHOR_ATOMS else None


_ZERO_WIDTH = (regex_parser.AT, regex_parser.ASSERT, regex_parser.ASSERT_NOT)


def _starts(items: Any, blind: bool) -> tuple[list[tuple[str, ...]], bool]:
    """The literal starts of a parsed sequence, each a tuple of RE2 atoms, and whether they spell it whole."""
    starts: list[tuple[str, ...]] = [()]
    for op, value in items:
        if op in _ZERO_WIDTH:
            continue
        choices: list[tuple[str, ...]]
        if op is regex_parser.LITERAL:
            choices, whole = [(_atom(value, blind),)], True
        elif op is regex_parser.IN and all(kind is regex_parser.LITERAL for kind, _ in value):
            choices, whole = [(_atom(char, blind),) for _, char in value], True
        elif op is regex_parser.SUBPATTERN:
            _, added, removed, inner = value
            choices, whole = _starts(inner, (blind or bool(added & re.IGNORECASE)) and not removed & re.IGNORECASE)
        elif op is regex_parser.BRANCH:
            branches = [_starts(branch, blind) for branch in value[1]]
            choices, whole = [start for found, _ in branches for start in found], all(w for _, w in branches)
        else:
            return starts, False
        if len(starts) * len(choices) > MAX_ANCHORS:
            return starts, False
        starts = [start + choice for start in starts for choice in choices]
        if not whole:
            return starts, False
    return starts, True


def _atom(char: int, blind: bool) -> str:
    """One byte as RE2 matches it; a letter of a case-blind pattern in either case (ASCII only, as ``re`` folds
    bytes)."""
    if blind and chr(char).isascii() and chr(char).isalpha():
        return f"[\\x{ord(chr(char).lower()):02x}\\x{ord(chr(char).upper()):02x}]"
    return f"\\x{char:02x}"


@functools.cache
def _anchor_set() -> tuple[re2.Set, tuple[Detector, ...], tuple[Detector, ...]]:
    """An RE2 set of each detector's starts (one pass over the data names the detectors that may match), the
    detectors it holds in its order, and those with no start to look for (they always run)."""
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1
    found = re2.Set.SearchSet(options)
    held, unanchored = [], []
    for detector in detectors():
        starts = anchors(detector.pattern)
        if starts is None:
            unanchored.append(detector)
        else:
            found.Add("|".join(starts).encode())
            held.append(detector)
    found.Compile()
    return found, tuple(held), tuple(unanchored)


def detectors_for(data: bytes) -> tuple[Detector, ...]:
    """The detectors that may find a credential in ``data``: every one whose start it holds, and every one
    with no start (the rest cannot match, so they need not run)."""
    if len(data) < MIN_CREDENTIAL_LENGTH:
        return ()
    found, held, unanchored = _anchor_set()
    hits = found.Match(data)
    return unanchored if hits is None else (*(held[n] for n in sorted(hits)), *unanchored)


class RedactionRuleError(ValueError):
    """A --redact rule that cannot be used; the message names it."""


_RULE_KINDS = "header:NAME, json:PATH, regex:PATTERN or allow:PATTERN"


@dataclass(frozen=True)
class Rules:
    """The redaction settings: which headers, which JSON paths, which patterns, which values are allowed."""

    headers: frozenset[str] = DEFAULT_SECRET_HEADERS
    json_paths: tuple[tuple[str, ...], ...] = ()
    patterns: tuple[re.Pattern[bytes], ...] = ()
    allowed: tuple[re.Pattern[bytes], ...] = ()

    def with_rules(self, specs: Iterable[str]) -> Rules:
        """These rules plus ``--redact`` specs; raises RedactionRuleError naming a bad one."""
        headers, paths = set(self.headers), list(self.json_paths)
        patterns, allowed = list(self.patterns), list(self.allowed)
        for spec in specs:
            kind, sep, value = spec.partition(":")
            if not sep or not value:
                raise RedactionRuleError(f"redaction rule {spec!r} must be {_RULE_KINDS}")
            if kind == "header":
                headers.add(value.lower())
            elif kind == "json":
                paths.append(parse_path(value))
            elif kind in ("regex", "allow"):
                try:
                    (patterns if kind == "regex" else allowed).append(re.compile(value.encode()))
                except re.error as err:
                    raise RedactionRuleError(f"redaction rule {spec!r}: bad regular expression: {err}") from None
            else:
                raise RedactionRuleError(f"redaction rule {spec!r}: unknown kind {kind!r}; use {_RULE_KINDS}")
        return Rules(frozenset(headers), tuple(paths), tuple(patterns), tuple(allowed))

    def allows(self, value: bytes) -> bool:
        """A found value the project said is not a secret (an `allow:` rule matches it whole)."""
        return any(pattern.fullmatch(value) for pattern in self.allowed)

    def may_hold_credentials(self, data: bytes) -> bool:
        """Whether ``credentials`` may find something in ``data``; when not, it finds nothing in any piece of it
        either (so the pieces of one exchange, joined, are looked over at once)."""
        return bool(self.patterns) or bool(detectors_for(data))

    def credentials(self, data: bytes) -> list[tuple[int, int, str]]:
        """(start, end, kind) of each credential found by shape or by a regex: rule, in order, overlaps merged."""
        if not data:
            return []
        found = [(start, end, d.kind) for d in detectors_for(data) for start, end in d.spans(data)]
        found += [(m.start(), m.end(), "a match of a --redact regex") for p in self.patterns
                  for m in p.finditer(data) if m.end() > m.start()]
        return [span for span in merge_spans(found) if not self.allows(data[span[0]:span[1]])]


DEFAULT_RULES = Rules()


def merge_spans(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Spans in order with overlapping ones joined (the first one's kind is kept)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, kind))
    return merged


def replace_spans(data: bytes, spans: Iterable[tuple[int, int, Any]]) -> bytes:
    """``data`` with each (merged, ordered) span replaced by the placeholder."""
    pieces, cursor = [], 0
    for start, end, _ in spans:
        pieces += [data[cursor:start], PLACEHOLDER_BYTES]
        cursor = end
    return b"".join(pieces) + data[cursor:] if pieces else data


def scrub_credentials(text: str) -> str:
    """``text`` with every credential found by shape replaced by the placeholder, as the recorder stores it.

    The normalizer compares a live request through this, so a client that sends the real value
    again matches the recording the value was scrubbed from.
    """
    data = text.encode("utf-8", "surrogatepass")
    spans = DEFAULT_RULES.credentials(data)
    return replace_spans(data, spans).decode("utf-8", "surrogatepass") if spans else text


def values_under_keys(value: Any, keys: frozenset[str]) -> Iterator[str]:
    """The string values of these keys anywhere in a JSON value (``SECRET_JSON_KEYS``)."""
    stack = [value]
    while stack:  # a loop, not recursion: a body nested 10,000 deep is still walked
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in keys and isinstance(child, str):
                    yield child
                else:
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


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
