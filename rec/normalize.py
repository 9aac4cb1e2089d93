"""Normalization shared by `rec diff` and the replayer's body matching, drift and closest match.

Two runs of the same conversation differ in ids, UUIDs, timestamps and the Codex id
headers; two machines also differ in the folders a client names (Codex sends its working
folder and its home in every request) and in text a client stamps per run (Codex's
`Chunk ID:` and `Wall time:` lines, the current date). Normalizing masks those so what
remains is what the client meant. Each rule is a small named function; a Normalizer
composes them. Normalizing never changes what is served, only what is compared.

Ids are not simply blanked: each distinct id becomes ``<id:N>`` by order of first
appearance, so "this output answers that call" survives normalization while the
values themselves do not matter.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import re2

from rec.cassette import Headers
from rec.jsonpath import parse_path
from rec.redaction import DEFAULT_SECRET_HEADERS, scrub_credentials

# Body keys whose values are volatile and left out of comparisons by default.
DEFAULT_IGNORED_PATHS: tuple[str, ...] = ("prompt_cache_key", "client_metadata")

# Keys whose string values are ids chosen per run (by the client or the API).
ID_KEYS = frozenset({"id", "call_id", "previous_response_id", "response_id", "item_id", "stream_id"})
TIMESTAMP_KEYS = frozenset({"created_at", "completed_at", "started_at", "timestamp", "expires_at"})

# Headers that carry per-run ids, times, sizes, versions or secrets.
DEFAULT_VOLATILE_HEADERS = DEFAULT_SECRET_HEADERS | frozenset({
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

# Text a client stamps differently on every run or machine, masked inside any string: each
# rule is (a cheap substring that must be present, the pattern, its replacement).
VOLATILE_TEXT: tuple[tuple[str, re.Pattern[str], str], ...] = (
    # Codex's exec_command output starts with a random chunk id and the command's duration.
    ("Chunk ID: ", re.compile(r"Chunk ID: [0-9A-Za-z]+"), "Chunk ID: <chunk>"),
    ("Wall time: ", re.compile(r"Wall time: [0-9.]+ seconds"), "Wall time: <duration> seconds"),
    # Codex's <environment_context>: the day, the machine's time zone and shell.
    ("</current_date>", re.compile(r"<current_date>[^<]*</current_date>"), "<current_date><date></current_date>"),
    ("</timezone>", re.compile(r"<timezone>[^<]*</timezone>"), "<timezone><tz></timezone>"),
    ("</shell>", re.compile(r"<shell>[^<]*</shell>"), "<shell><shell></shell>"),
)
# Where a client names the folders of this machine: Codex's working folder (<cwd>) and its
# skills root under CODEX_HOME. Learned from each value, then masked wherever they appear.
_CWD = re.compile(r"<cwd>([^<]+)</cwd>")
_CODEX_HOME = re.compile(r"`r\d+` = `([^`]+?)/skills/")


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


def machine_folders(texts: Iterable[str]) -> list[tuple[str, str]]:
    """The machine's folders a client names in these strings, as (folder, placeholder), longest first."""
    found: dict[str, str] = {}
    for text in texts:
        if "</cwd>" in text:
            for folder in _CWD.findall(text):
                found[folder.rstrip("/")] = "<cwd>"
        if "/skills/" in text:
            for codex_home in _CODEX_HOME.findall(text):
                found[codex_home] = "<codex_home>"
                if codex_home.endswith("/.codex"):
                    found.setdefault(codex_home.removesuffix("/.codex"), "<home>")
    return sorted(((f, p) for f, p in found.items() if len(f) > 1), key=lambda pair: -len(pair[0]))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@functools.lru_cache(maxsize=64)
def _folder_pattern(folder: str) -> re.Pattern[str]:
    # A whole path only: not the tail of a longer path, nor the `/root` of a `</root>` tag.
    return re.compile(r"(?<![\w./<-])" + re.escape(folder) + r"(?![\w.-])")


class Mask(Protocol):
    """A user's mask, compiled: what ``sub`` replaces in a string."""

    def sub(self, repl: str, text: str) -> str: ...


# RE2 matches in time linear in the text whatever the pattern, so no mask (`(a+)+$`) can stall a
# replay server on a request; a bad pattern is an error for the user, not a line in RE2's log.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
# How long a mask RE2 cannot match (below) may take on one string before the run stops on it.
BACKTRACKING_MASK_SECONDS = 1.0


class MaskTimeoutError(ValueError):
    """A mask matched by the backtracking engine that ran past ``BACKTRACKING_MASK_SECONDS`` on one string."""


@dataclass(frozen=True)
class _BacktrackingMask:
    """A mask with lookaround or a backreference, which RE2 does not have, as Python's engine took them before
    rec matched masks with RE2: matched by the `regex` module (Python's syntax), each string within a time bound,
    so a setting written for an older rec keeps working and still cannot stall a run."""

    pattern: str
    compiled: Any

    def sub(self, repl: str, text: str) -> str:
        try:
            return str(self.compiled.sub(repl, text, timeout=BACKTRACKING_MASK_SECONDS))
        except TimeoutError:
            raise MaskTimeoutError(
                f"mask {self.pattern!r} ran over {BACKTRACKING_MASK_SECONDS:g} s on a string of {len(text):,} "
                "characters: it uses lookaround or a backreference, so it is matched by a backtracking engine, and "
                "it backtracks too far; rewrite it without them (a mask replaces its whole match with <masked>, so "
                "the text a lookaround checked can be matched with it)") from None


def compile_mask(pattern: str, backtracking: bool = False) -> Mask:
    """A mask compiled with RE2 (Python's syntax less lookaround and backreferences); with ``backtracking`` (the
    project's own settings), a pattern RE2 refuses and Python's syntax takes is matched within a time bound
    instead. ValueError if it is neither."""
    try:
        return cast(Mask, re2.compile(pattern, options=_RE2_OPTIONS))
    except re2.error as err:
        detail = err.args[0].decode(errors="replace") if err.args and isinstance(err.args[0], bytes) else str(err)
    import regex  # only for a mask RE2 refuses

    try:
        compiled = regex.compile(pattern)
    except regex.error:
        raise ValueError(f"mask {pattern!r} is not a valid regular expression: {detail}") from None
    if backtracking:
        return _BacktrackingMask(pattern, compiled)
    raise ValueError(f"mask {pattern!r} uses lookaround or a backreference ({detail}), which a mask sent here may "
                     "not: masks are matched by RE2, in time linear in the text, so no mask can stall the server; "
                     "rewrite it without them (a mask replaces its whole match with <masked>, so the text a "
                     "lookaround checked can be matched with it)")


@dataclass(frozen=True)
class _TextRules:
    """What is masked inside strings: the learned folders, the volatile text rules, the user's masks."""

    folders: list[tuple[str, str]]
    masks: tuple[Mask, ...]

    def __call__(self, text: str) -> str:
        text = scrub_credentials(text)  # as the recorder stored it: a live credential matches its [REDACTED]
        for folder, placeholder in self.folders:
            if folder in text:
                text = _folder_pattern(folder).sub(placeholder, text)
        for marker, pattern, replacement in VOLATILE_TEXT:
            if marker in text:
                text = pattern.sub(replacement, text)
        for mask in self.masks:
            text = mask.sub("<masked>", text)
        return text


def _mask(value: Any, key: str | None, ids: _IdMasker, text: _TextRules | None) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k, ids, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, ids, text) for v in value]
    if is_timestamp(key, value):
        return "<timestamp>"
    if isinstance(value, str):
        if is_volatile_id(key, value):
            return ids(value)
        if text is not None:
            value = text(value)
        if "-" in value and _UUID.search(value):  # the cheap test first: long prompts have no UUID
            return _UUID.sub(lambda m: ids(m.group(0)), value)
    return value


@dataclass(frozen=True)
class Normalizer:
    """What to ignore when comparing requests and responses.

    ``ignore`` lists JSON paths dropped from bodies (`client_metadata`, `input[*].id`,
    `tools[0]`); ``mask_volatile`` masks ids, UUIDs, timestamps, the machine's folders and
    the text clients stamp per run (``VOLATILE_TEXT``) everywhere; ``masks`` are the user's
    regular expressions, each match replaced by ``<masked>`` in any string.
    """

    ignore: tuple[str, ...] = DEFAULT_IGNORED_PATHS
    mask_volatile: bool = True
    volatile_headers: frozenset[str] = DEFAULT_VOLATILE_HEADERS
    ignore_headers: tuple[str, ...] = ()
    masks: tuple[Mask, ...] = ()

    def with_ignored(self, paths: Iterable[str]) -> Normalizer:
        return dataclasses.replace(self, ignore=(*self.ignore, *paths))

    def with_masks(self, patterns: Iterable[str], backtracking: bool = False) -> Normalizer:
        """This normalizer with more masks; ValueError names a pattern that is not a valid regex (``backtracking``:
        see ``compile_mask``)."""
        return dataclasses.replace(self, masks=(*self.masks, *(compile_mask(pattern, backtracking)
                                                               for pattern in patterns)))

    def body(self, value: Any) -> Any:
        """A JSON value with ignored paths dropped and volatile values masked."""
        return self.mask(self.drop_ignored(value))

    def drop_ignored(self, value: Any) -> Any:
        """A request body without the ``ignore`` paths (the paths are relative to the body)."""
        for path in self.ignore:
            value = _drop_path(value, parse_path(path))
        return value

    def mask(self, value: Any) -> Any:
        """Ids (as <id:N>, numbered across the whole value), UUIDs, timestamps, folders and masks masked."""
        if not self.mask_volatile and not self.masks:
            return value
        folders = machine_folders(_strings(value)) if self.mask_volatile else []
        text = _TextRules(folders, self.masks) if self.mask_volatile or self.masks else None
        if not self.mask_volatile:
            return _mask_text_only(value, text)
        return _mask(value, None, _IdMasker(), text)

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


def _mask_text_only(value: Any, text: _TextRules | None) -> Any:
    if isinstance(value, dict):
        return {k: _mask_text_only(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_text_only(v, text) for v in value]
    return text(value) if isinstance(value, str) and text is not None else value


DEFAULT_NORMALIZER = Normalizer()
