"""A regression report: many pairs of cassettes (two folders, or a revision and the work tree) compared.

Each pair gets its verdict (rec.diff.compare); the report counts them, sums the figures per
side, and says whether it fails at a `--fail-on` level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rec.cassette import Cassette, CassetteError, load_cassette
from rec.diff.compare import PairResult, compare_exchanges, one_side
from rec.diff.rules import VERDICTS, Rules, severity
from rec.diff.sources import Source
from rec.diff.usage import Figures, total
from rec.diff.views import Part
from rec.normalize import Normalizer

FailOn = Literal["any", "requests_changed", "regression"]


def fails(pairs: Iterable[PairResult], fail_on: FailOn) -> bool:
    """Whether a pair reaches the level: any difference at all, or a reason at least that level."""
    if fail_on == "any":
        return any(pair.verdict != "identical" for pair in pairs)
    return any(severity(pair.level) >= severity(fail_on) for pair in pairs)


def pair_fails(pair: PairResult, fail_on: FailOn) -> bool:
    return fails([pair], fail_on)


@dataclass
class Report:
    old_name: str
    new_name: str
    pairs: list[PairResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {verdict: sum(1 for p in self.pairs if p.verdict == verdict) for verdict in VERDICTS}

    def figures(self) -> tuple[Figures, Figures]:
        return total(p.old_figures for p in self.pairs), total(p.new_figures for p in self.pairs)


def compare_sources(sources: Iterable[Source], normalizer: Normalizer, rules: Rules, old_name: str, new_name: str,
                    parts: tuple[Part, ...] = ("request", "response")) -> Report:
    """Compare every pair; a cassette that cannot be read raises CassetteError (naming it)."""
    report = Report(old_name, new_name)
    for source in sources:
        old = _load(source.old, source.old_name)
        new = _load(source.new, source.new_name)
        for cassette, name in ((old, source.old_name), (new, source.new_name)):
            if cassette is not None and cassette.damage is not None:
                report.warnings.append(f"{name}: {cassette.damage.describe()}; kept {len(cassette.exchanges)} "
                                       "whole exchange(s)")
        if old is not None and new is not None:
            pair = compare_exchanges(old.exchanges, new.exchanges, normalizer, rules, parts, source.old_name,
                                     source.new_name, source.path)
        elif old is not None:
            pair = one_side(source.path, source.old_name, old.exchanges, normalizer, rules, "only_old")
        else:
            assert new is not None
            pair = one_side(source.path, source.new_name, new.exchanges, normalizer, rules, "only_new")
        report.pairs.append(pair)
    return report


def _load(path: Path | None, name: str) -> Cassette | None:
    """The cassette at ``path``; errors name it as the report does (a file taken from git by REV:PATH)."""
    if path is None:
        return None
    try:
        return load_cassette(path)
    except CassetteError as err:
        raise CassetteError(str(err).replace(str(path), name, 1)) from None
