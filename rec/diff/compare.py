"""Comparing two cassettes: align their exchanges, judge each pair, sum tokens and times.

`compare_exchanges` gives a `PairResult`: the verdict with its reasons, one row per aligned
exchange (its verdict and figures), and the exact changes (a unified diff of each changed
pair's views, the exchanges only in OLD or NEW) that `rec diff A B` has always printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from rec.cassette import Exchange, WebSocketExchange
from rec.diff.align import Aligned, align
from rec.diff.outcome import answer_usage, answer_values
from rec.diff.rules import VERDICTS, Reason, Rules, Where, severity
from rec.diff.usage import Figures, cost_of, latency, model_of, total
from rec.diff.verdict import Judge, turns
from rec.diff.views import Part, exchange_route, route_of, unified, views
from rec.normalize import Normalizer

ChangeKind = Literal["changed", "missing", "extra"]
# Views as recorded, for reading figures only: nothing dropped or masked.
AS_RECORDED = Normalizer(ignore=(), mask_volatile=False)


@dataclass
class Change:
    """An exchange that differs: changed (with a unified diff of its views), missing from NEW, or extra in NEW."""

    kind: ChangeKind
    route: str
    a_index: int | None
    b_index: int | None
    parts: list[Part] = field(default_factory=list)
    diff: str = ""

    def title(self) -> str:
        where = {"changed": f"#{self.a_index} -> #{self.b_index}", "missing": f"#{self.a_index} only in A",
                 "extra": f"#{self.b_index} only in B"}[self.kind]
        what = f": {' and '.join(self.parts)} changed" if self.kind == "changed" else ""
        return f"{self.route} ({where}){what}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "route": self.route, "a_index": self.a_index, "b_index": self.b_index,
                "parts": self.parts, "diff": self.diff}


@dataclass
class Row:
    """One aligned exchange: where it is on each side, its verdict, and its figures on each side."""

    old: int | None
    new: int | None
    route: str
    verdict: str
    old_figures: Figures | None
    new_figures: Figures | None


@dataclass
class PairResult:
    """Two cassettes compared (or one found on a side only: verdict only_old / only_new)."""

    path: str
    old_name: str
    new_name: str
    verdict: str
    reasons: list[Reason]
    rows: list[Row] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    equal: int = 0
    old_figures: Figures = field(default_factory=Figures)
    new_figures: Figures = field(default_factory=Figures)

    @property
    def level(self) -> str:
        """The highest level among the reasons (identical without any): what --fail-on compares."""
        return max((r.level for r in self.reasons), key=severity, default="identical")

    def counts(self) -> dict[str, int]:
        return {"equal": self.equal, **{kind: sum(1 for c in self.changes if c.kind == kind)
                                        for kind in ("changed", "missing", "extra")}}


def exchange_figures(exchange: Exchange, view: dict[str, Any], rules: Rules) -> Figures:
    """Tokens (summed over a WebSocket's turns), their cost, and the recorded times of one exchange."""
    if isinstance(exchange, WebSocketExchange):
        answers = [(got, sent) for sent, got in turns(exchange, view)[1]]
    elif isinstance(view.get("response"), dict):
        answers = [(answer_values(view["response"]), view["request"].get("body"))]
    else:
        answers = []
    tokens = Figures()
    cost: float | None = 0.0  # None once an answer's model has no price
    for values, sent in answers:
        used, model = answer_usage(values)
        tokens = tokens + used if answers[1:] else used
        spent = cost_of(used, model_of(model, sent), rules.prices)
        cost = None if spent is None or cost is None else cost + spent
    first_event_ms, duration_ms = latency(exchange)
    return Figures(*tokens.tokens(), cost=cost, first_event_ms=first_event_ms, duration_ms=duration_ms)


def _key(exchange: Exchange, view: dict[str, Any], parts: tuple[Part, ...]) -> tuple[Any, str]:
    return route_of(exchange), json.dumps([view[p] for p in parts], sort_keys=True, default=str)


def _verdict(reasons: list[Reason]) -> str:
    return max((r.level for r in reasons), key=severity, default=VERDICTS[0])


def compare_exchanges(old: list[Exchange], new: list[Exchange], normalizer: Normalizer, rules: Rules,
                      parts: tuple[Part, ...] = ("request", "response"), old_name: str = "A", new_name: str = "B",
                      path: str = "") -> PairResult:
    """Align, then judge every aligned pair; each exchange is normalized once (not at all when both are equal)."""
    if old == new:
        return _identical(old, rules, old_name, new_name, path)
    old_views = [views(e, normalizer) for e in old]
    new_views = [views(e, normalizer) for e in new]
    old_figures = [exchange_figures(e, v, rules) for e, v in zip(old, old_views, strict=True)]
    new_figures = [exchange_figures(e, v, rules) for e, v in zip(new, new_views, strict=True)]
    aligned = align([_key(e, v, parts) for e, v in zip(old, old_views, strict=True)],
                    [_key(e, v, parts) for e, v in zip(new, new_views, strict=True)],
                    [route_of(e) for e in old], [route_of(e) for e in new])
    judge = Judge(rules)
    result = PairResult(path, old_name, new_name, verdict="identical", reasons=[])
    for row in aligned:
        reasons = _judge_row(row, old, new, old_views, new_views, parts, judge, old_name, new_name, result)
        route = exchange_route(old[row.old] if row.old is not None else new[row.new or 0])
        result.rows.append(Row(row.old, row.new, route, _verdict(reasons),
                               old_figures[row.old] if row.old is not None else None,
                               new_figures[row.new] if row.new is not None else None))
        result.reasons += reasons
    result.old_figures, result.new_figures = total(old_figures), total(new_figures)
    result.reasons += budget_reasons(result.old_figures, result.new_figures, rules)
    result.verdict = _verdict(result.reasons)
    return result


def _identical(exchanges: list[Exchange], rules: Rules, old_name: str, new_name: str, path: str) -> PairResult:
    """Two equal lists of exchanges (a file with itself, a cassette not re-recorded): only the figures to read."""
    figures = [exchange_figures(e, views(e, AS_RECORDED), rules) for e in exchanges]
    rows = [Row(n, n, exchange_route(e), "identical", f, f) for n, (e, f) in enumerate(zip(exchanges, figures,
                                                                                           strict=True))]
    return PairResult(path, old_name, new_name, "identical", [], rows, equal=len(exchanges),
                      old_figures=total(figures), new_figures=total(figures))


def _judge_row(row: Aligned, old: list[Exchange], new: list[Exchange], old_views: list[dict[str, Any]],
               new_views: list[dict[str, Any]], parts: tuple[Part, ...], judge: Judge, old_name: str,
               new_name: str, result: PairResult) -> list[Reason]:
    """The reasons of one aligned row; records its change (or counts it equal) in ``result``."""
    rules = judge.rules
    if row.new is None:
        assert row.old is not None
        result.changes.append(Change("missing", exchange_route(old[row.old]), row.old, None))
        return [rules.reason("exchange_gone", f"{exchange_route(old[row.old])} gone", Where(row.old, None))]
    if row.old is None:
        result.changes.append(Change("extra", exchange_route(new[row.new]), None, row.new))
        return [rules.reason("exchange_added", f"{exchange_route(new[row.new])} added", Where(None, row.new))]
    i, j = row.old, row.new
    differing: list[Part] = [] if row.equal else [p for p in parts if old_views[i][p] != new_views[j][p]]
    if not differing:
        result.equal += 1
        return []
    text = "\n".join(unified(old_views[i][p], new_views[j][p], f"{old_name}#{i} {p}", f"{new_name}#{j} {p}")
                     for p in differing)
    result.changes.append(Change("changed", exchange_route(old[i]), i, j, differing, text))
    return judge.exchange(old[i], new[j], old_views[i], new_views[j], parts, Where(i, j))


def budget_reasons(old: Figures, new: Figures, rules: Rules) -> list[Reason]:
    """The token budget: growth of a cassette's total tokens past ``token_budget`` percent."""
    budget = rules.token_budget
    if budget is None or new.total_tokens <= old.total_tokens * (1 + budget / 100):
        return []
    growth = f"+{(new.total_tokens / old.total_tokens - 1) * 100:.0f}%" if old.total_tokens else "from none"
    return [rules.reason("token_budget", f"tokens {old.total_tokens:,} → {new.total_tokens:,} ({growth}), "
                                         f"over the {budget:g}% budget")]


def one_side(path: str, name: str, exchanges: list[Exchange], normalizer: Normalizer, rules: Rules,
             side: Literal["only_old", "only_new"]) -> PairResult:
    """A cassette found on one side only: its figures count on that side."""
    figures = total(exchange_figures(e, views(e, normalizer), rules) for e in exchanges)
    message = "only in OLD" if side == "only_old" else "only in NEW"
    result = PairResult(path, name if side == "only_old" else "", name if side == "only_new" else "", side,
                        [rules.reason(side, message)])
    if side == "only_old":
        result.old_figures = figures
    else:
        result.new_figures = figures
    return result
