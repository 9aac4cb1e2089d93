"""The closest recorded request and the first field where it differs from the received one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replayer.closest import MISSING, closest, distance, first_difference

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=12)


def test_the_first_difference_is_named_by_its_path() -> None:
    recorded = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}
    received = {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}]}
    found = first_difference(recorded, received)
    assert found is not None and found.path == "input[0].content[0].text"
    assert found.describe() == '`input[0].content[0].text`: recorded "hi", received "hello"'


def test_a_field_on_one_side_only_and_an_extra_item_are_differences() -> None:
    found = first_difference({"model": "m"}, {"model": "m", "temperature": 0.2})
    assert found is not None and (found.path, found.recorded, found.received) == ("temperature", MISSING, 0.2)
    assert found.describe() == "`temperature`: recorded nothing, received 0.2"
    extra = first_difference({"input": [1]}, {"input": [1, {"type": "function_call_output"}]})
    assert extra is not None and extra.path == "input[1]" and extra.recorded is MISSING


def test_json_types_are_compared_strictly_and_long_values_are_cut() -> None:
    found = first_difference({"stream": 1}, {"stream": True})
    assert found is not None and found.path == "stream"
    long = first_difference("a" * 200, "b")
    assert long is not None and long.path == "" and len(long.describe()) < 120 and "…" in long.describe()


def test_the_candidate_with_fewest_differing_leaves_wins_and_ties_go_to_the_first() -> None:
    received = {"input": ["a", "b", "c"], "model": "m"}
    candidates = [("far", {"input": ["x", "y", "z"], "model": "n"}), ("near", {"input": ["a", "b", "x"], "model": "m"}),
                  ("also near", {"input": ["a", "b", "y"], "model": "m"})]
    best = closest(received, candidates)
    assert best is not None and best.candidate == "near" and best.distance == 1.0
    assert best.difference is not None and best.difference.path == "input[2]"
    assert closest(received, []) is None


def test_among_changed_strings_the_one_sharing_more_is_nearer() -> None:
    assert distance("run pwd", "run pwd -P") < distance("run ls", "run pwd -P") < distance("x", "y") == 1.0


@given(JSON, JSON)
def test_distance_is_zero_exactly_when_there_is_no_difference(a: object, b: object) -> None:
    assert (distance(a, b) == 0) == (first_difference(a, b) is None)
    assert distance(a, b) == distance(b, a)
