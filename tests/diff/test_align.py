"""Alignment: every exchange once, equal ones matched in order, the rest paired by route; repeated ones cheaply."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rec.diff.align import align, equal_matches


def rows(old: str, new: str, routes: tuple[str, str] | None = None) -> list[tuple[int | None, int | None, bool]]:
    """Align two strings, one character per exchange (its content); routes are the lowercased letters by default."""
    old_routes, new_routes = routes or (old.lower(), new.lower())
    return [(r.old, r.new, r.equal) for r in align(list(old), list(new), list(old_routes), list(new_routes))]


def test_a_cassette_with_itself_is_all_equal() -> None:
    assert rows("abcabc", "abcabc") == [(n, n, True) for n in range(6)]


def test_a_turn_lost_or_added_among_repeated_ones_is_found_as_such() -> None:
    assert rows("aaaaa", "aaaa") == [(0, 0, True), (1, 1, True), (2, 2, True), (3, 3, True), (4, None, False)]
    assert rows("xaaay", "xaaaay")[-2:] == [(None, 4, False), (4, 5, True)]


def test_a_changed_exchange_is_paired_with_its_counterpart_on_its_route() -> None:
    # "B" is "b" changed (same route); "m" is another route, equal on both sides.
    assert rows("abmc", "aBmc") == [(0, 0, True), (1, 1, False), (2, 2, True), (3, 3, True)]
    # Two changed, one gone, in one stretch: pairs by route in order, the rest gone.
    assert rows("aBmCd", "abmd", ("abmcd", "abmd")) == [(0, 0, True), (1, 1, False), (2, 2, True),
                                                          (3, None, False), (4, 3, True)]


def test_moved_exchanges_are_anchored_by_unique_content() -> None:
    old, new = "xyzabc", "abcxyz"
    matches = equal_matches(list(old), list(new))
    assert len(matches) == 3 and all(old[i] == new[j] for i, j in matches)


keys = st.lists(st.sampled_from("aabbcx"), max_size=30)


@given(keys, keys)
def test_every_exchange_appears_once_and_matches_are_equal_and_ordered(old: list[str], new: list[str]) -> None:
    aligned = align(old, new, [k.upper() for k in old], [k.upper() for k in new])
    assert sorted(r.old for r in aligned if r.old is not None) == list(range(len(old)))
    assert sorted(r.new for r in aligned if r.new is not None) == list(range(len(new)))
    equal = [r for r in aligned if r.equal]
    assert all(r.old is not None and r.new is not None and old[r.old] == new[r.new] for r in equal)
    assert [r.new for r in equal] == sorted(r.new for r in equal if r.new is not None)
    paired = [(r.old, r.new) for r in aligned if not r.equal and r.old is not None and r.new is not None]
    assert all(old[i].upper() == new[j].upper() for i, j in paired)
