"""The rules of `rec diff` verdicts, in one table: each a name a person reads in a report, its level, what it finds.

A pair of cassettes is `identical` when nothing differs after normalization; otherwise its
verdict is the highest level among its reasons: `benign` < `requests_changed` < `regression`.
A rule's level can be changed in the settings (`[tool.rec.diff] levels = {rule = "level"}`);
docs/diff.md lists the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rec.config import LEVELS, ConfigError, DiffSettings, Price

Level = Literal["benign", "requests_changed", "regression"]
# Every verdict of a pair of cassettes, from the mildest; the last two are cassettes found on one side only.
VERDICTS = ("identical", "benign", "requests_changed", "regression", "only_old", "only_new")


@dataclass(frozen=True)
class Rule:
    name: str
    level: Level
    finds: str


RULES: tuple[Rule, ...] = (
    Rule("exchange_gone", "regression", "an exchange, or a WebSocket turn, of OLD has no counterpart in NEW"),
    Rule("exchange_added", "regression", "an exchange, or a WebSocket turn, of NEW has no counterpart in OLD"),
    Rule("http_status", "regression", "the HTTP status got worse: a higher class (2xx to 4xx or 5xx, ...), "
         "or no response at all"),
    Rule("stream_end", "regression", "the stream was cut or reset, or the WebSocket closed with an error code, "
         "where it had not"),
    Rule("error_event", "regression", "an `error` event (or an error body) more than before"),
    Rule("status", "regression", "the final response status changed to anything but `completed` "
         "(failed, incomplete, cancelled, or no final event)"),
    Rule("tool_call_added", "regression", "the answer calls a tool more"),
    Rule("tool_call_removed", "regression", "the answer calls a tool less"),
    Rule("tool_call_renamed", "regression", "a tool call, at the same place, names another tool"),
    Rule("tool_arguments", "regression", "a tool call's arguments changed (compared as JSON)"),
    Rule("output_kinds", "regression", "the kinds of the other output items changed (message, reasoning, ...)"),
    Rule("output_shape", "regression", "an answer that is JSON (structured output) changed shape: "
         "keys or types, not values"),
    Rule("token_budget", "regression", "the cassette's total tokens grew more than `token_budget` percent"),
    Rule("request", "requests_changed", "the client sent something else: method, path, query, headers, body "
         "(a prompt, tools, instructions, a tool's output)"),
    Rule("only_old", "requests_changed", "a cassette only in OLD (folders and --git)"),
    Rule("only_new", "requests_changed", "a cassette only in NEW (folders and --git)"),
    Rule("recovered", "benign", "the end got better (failed to completed, a cut stream now whole, ...): "
         "what it now outputs is not judged"),
    Rule("wording", "benign", "the assistant's text changed"),
    Rule("reasoning", "benign", "the reasoning changed (summaries, text, encrypted content)"),
    Rule("usage", "benign", "the token counts changed"),
    Rule("ids", "benign", "only ids differ (how they are numbered: an item more or less before them renumbers them)"),
    Rule("echo", "benign", "the request differs only in the items that echo earlier answers (assistant messages, "
         "reasoning, tool calls, compactions)"),
    Rule("response_other", "benign", "the response differs otherwise (headers, events, other output items)"),
)
RULE_NAMES = frozenset(rule.name for rule in RULES)
_SEVERITY = {level: n for n, level in enumerate(("identical", *LEVELS))}


def severity(level: str) -> int:
    """0 for identical, then benign, requests_changed, regression."""
    return _SEVERITY[level]


@dataclass(frozen=True)
class Where:
    """An exchange (by its index in OLD, and in NEW when that differs), and a WebSocket turn in it."""

    old: int | None
    new: int | None
    turn: int | None = None

    def __str__(self) -> str:
        if self.old is None:
            text = f"exchange #{self.new} of NEW"
        else:
            text = f"exchange #{self.old}" + ("" if self.new in (None, self.old) else f" (#{self.new} in NEW)")
        return text + (f" turn {self.turn + 1}" if self.turn is not None else "")


@dataclass(frozen=True)
class Reason:
    """One finding of one rule: what changed, where, at which level."""

    rule: str
    level: Level
    message: str
    where: Where | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def to_json(self) -> dict[str, Any]:
        where = self.where or Where(None, None)
        return {"rule": self.rule, "level": self.level, "exchange": where.old, "new_exchange": where.new,
                "turn": None if where.turn is None else where.turn + 1, "message": str(self)}


@dataclass(frozen=True)
class Rules:
    """The levels in force, the token budget (percent) and the prices (per model)."""

    levels: Mapping[str, Level] = field(default_factory=lambda: {rule.name: rule.level for rule in RULES})
    token_budget: float | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: DiffSettings) -> Rules:
        """The defaults with the settings' changes; ConfigError names an unknown rule."""
        unknown = sorted(settings.levels.keys() - RULE_NAMES)
        if unknown:
            raise ConfigError(f"{settings.source}: `diff.levels`: no rule named {unknown[0]!r} "
                              f"(rules: {', '.join(rule.name for rule in RULES)})")
        levels: dict[str, Any] = {rule.name: rule.level for rule in RULES} | settings.levels
        return cls(levels=levels, token_budget=settings.token_budget, prices=settings.prices)

    def reason(self, rule: str, message: str, where: Where | None = None) -> Reason:
        return Reason(rule, self.levels[rule], message, where)
