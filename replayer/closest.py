"""The recorded request nearest to one that matched nothing, and the first field where they differ.

An unmatched request is usually a near miss: a changed prompt, one more tool output, a
new field. Naming the closest recorded request and the first JSON path where the two
(normalized) bodies part tells the user what changed without a diff tool.

Distance counts differing leaves, compared by key for objects and by position for
arrays: a value present on one side only counts its leaves, and two different strings
count between 0.5 and 1 by how much of them they share at the start and the end, so
"run pwd" is nearer to "run pwd -P" than "run ls" is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")
SHOWN_CHARS = 60  # a value longer than this is cut in messages


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Difference:
    """Where two JSON values first differ: the path, and the value on each side (MISSING when absent)."""

    path: str
    recorded: Any
    received: Any

    def describe(self) -> str:
        where = f"`{self.path}`" if self.path else "the whole body"
        return f"{where}: recorded {show_value(self.recorded)}, received {show_value(self.received)}"


@dataclass(frozen=True)
class Closest(Generic[T]):
    """The nearest candidate, how many leaves differ, and the first difference (None when equal)."""

    candidate: T
    distance: float
    difference: Difference | None


def show_value(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    text = orjson.dumps(value).decode()
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def first_difference(recorded: Any, received: Any, path: str = "") -> Difference | None:
    """The first path (in the recorded value's key order, then the received one's) where the values differ."""
    if isinstance(recorded, dict) and isinstance(received, dict):
        for key in [*recorded, *(k for k in received if k not in recorded)]:
            found = first_difference(recorded.get(key, MISSING), received.get(key, MISSING), _child(path, key))
            if found is not None:
                return found
        return None
    if isinstance(recorded, list) and isinstance(received, list):
        for index in range(max(len(recorded), len(received))):
            found = first_difference(recorded[index] if index < len(recorded) else MISSING,
                                     received[index] if index < len(received) else MISSING, _child(path, index))
            if found is not None:
                return found
        return None
    if recorded is MISSING and received is MISSING:
        return None
    # Compare by type too: JSON's 1 and true are different values, Python's are equal.
    if type(recorded) is not type(received) or recorded != received:
        return Difference(path, recorded, received)
    return None


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(_leaves(v) for v in value) or 1
    return 1


def _string_distance(a: str, b: str) -> float:
    """0.5 to 1 for different strings: linear time, unlike an edit distance, for long prompts."""
    longest = max(len(a), len(b))
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return 0.5 + 0.5 * (1 - (prefix + suffix) / longest)


def distance(recorded: Any, received: Any) -> float:
    """How many leaves differ between two JSON values (0 exactly when they are equal)."""
    if isinstance(recorded, dict) and isinstance(received, dict):
        shared = recorded.keys() & received.keys()
        return (sum(distance(recorded[k], received[k]) for k in shared)
                + sum(_leaves(v) for k, v in recorded.items() if k not in shared)
                + sum(_leaves(v) for k, v in received.items() if k not in shared))
    if isinstance(recorded, list) and isinstance(received, list):
        common = min(len(recorded), len(received))
        return (sum(distance(recorded[i], received[i]) for i in range(common))
                + sum(_leaves(v) for v in recorded[common:]) + sum(_leaves(v) for v in received[common:]))
    if type(recorded) is type(received) and recorded == received:
        return 0
    if isinstance(recorded, str) and isinstance(received, str):
        return _string_distance(recorded, received)
    return max(_leaves(recorded), _leaves(received))


def closest(received: Any, candidates: Iterable[tuple[T, Any]]) -> Closest[T] | None:
    """The candidate (``(tag, recorded value)`` pairs) nearest to ``received``; the first one on ties."""
    best: Closest[T] | None = None
    for tag, recorded in candidates:
        score = distance(recorded, received)
        if best is None or score < best.distance:
            best = Closest(tag, score, first_difference(recorded, received))
            if score == 0:
                break
    return best
