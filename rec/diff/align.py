"""Aligning the exchanges of two cassettes, in time that grows with their length (n log n at worst).

First the exchanges equal after normalization are matched: the common prefix and suffix,
then, in what lies between, the ones whose content appears exactly once on each side, in
the same order (the anchors of patience diff), and the same again inside each gap a bounded
number of times. What is left between two matches is paired by route in order; an exchange
with no partner of its route is gone (only in OLD) or added (only in NEW).

Only equal keys are ever matched, so a cassette compared with itself is one linear pass,
and a run of identical exchanges (a client polling) never makes the work quadratic.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict, deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

# How many times the anchors are sought again inside the gaps they leave: each round is a
# pass over disjoint stretches, so this bounds the work, and deeper rounds rarely find more.
MAX_ROUNDS = 8


@dataclass(frozen=True)
class Aligned:
    """One row of the alignment: an exchange of OLD, of NEW, or of both; ``equal`` when their keys are."""

    old: int | None
    new: int | None
    equal: bool = False


def _unique_anchors(a: Sequence[Hashable], alo: int, ahi: int,
                    b: Sequence[Hashable], blo: int, bhi: int) -> list[tuple[int, int]]:
    """Keys found once in a[alo:ahi] and once in b[blo:bhi], the longest run of them in the same order."""
    in_a = Counter(a[alo:ahi])
    in_b = Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if in_b[b[j]] == 1 and in_a[b[j]] == 1}
    candidates = [(i, where_b[a[i]]) for i in range(alo, ahi) if a[i] in where_b]
    # Longest increasing subsequence of the NEW positions (patience sorting).
    tops: list[int] = []
    top_at: list[int] = []
    before: list[int] = []
    for n, (_, j) in enumerate(candidates):
        pile = bisect.bisect_left(tops, j)
        before.append(top_at[pile - 1] if pile else -1)
        if pile == len(tops):
            tops.append(j)
            top_at.append(n)
        else:
            tops[pile] = j
            top_at[pile] = n
    chain: list[tuple[int, int]] = []
    n = top_at[-1] if top_at else -1
    while n != -1:
        chain.append(candidates[n])
        n = before[n]
    return chain[::-1]


def equal_matches(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[tuple[int, int]]:
    """Pairs (i, j), increasing on both sides, with a[i] == b[j]."""
    matches: list[tuple[int, int]] = []
    stretches = [(0, len(a), 0, len(b), 0)]
    while stretches:
        alo, ahi, blo, bhi, rounds = stretches.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            matches.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            matches.append((ahi, bhi))
        if alo == ahi or blo == bhi or rounds == MAX_ROUNDS:
            continue
        start_a, start_b = alo, blo
        for i, j in _unique_anchors(a, alo, ahi, b, blo, bhi):
            matches.append((i, j))
            stretches.append((start_a, i, start_b, j, rounds + 1))
            start_a, start_b = i + 1, j + 1
        if (start_a, start_b) != (alo, blo):
            stretches.append((start_a, ahi, start_b, bhi, rounds + 1))
    matches.sort()
    return matches


def _pair_by_route(olds: range, news: range, old_routes: Sequence[Hashable],
                   new_routes: Sequence[Hashable]) -> list[Aligned]:
    """Within a stretch that differs: each exchange of OLD with the next of NEW on its route, in order."""
    waiting: defaultdict[Hashable, deque[int]] = defaultdict(deque)
    for j in news:
        waiting[new_routes[j]].append(j)
    rows = []
    for i in olds:
        partners = waiting.get(old_routes[i])
        rows.append(Aligned(i, partners.popleft() if partners else None))
    paired = {row.new for row in rows}
    rows += [Aligned(None, j) for j in news if j not in paired]
    return rows


def align(old_keys: Sequence[Hashable], new_keys: Sequence[Hashable],
          old_routes: Sequence[Hashable], new_routes: Sequence[Hashable]) -> list[Aligned]:
    """Every exchange of both sides once, in OLD's order (an added one after what precedes it in NEW)."""
    rows: list[Aligned] = []
    i = j = 0
    for mi, mj in [*equal_matches(old_keys, new_keys), (len(old_keys), len(new_keys))]:
        if i < mi or j < mj:
            rows += _pair_by_route(range(i, mi), range(j, mj), old_routes, new_routes)
        if mi < len(old_keys):
            rows.append(Aligned(mi, mj, equal=True))
        i, j = mi + 1, mj + 1
    return rows
