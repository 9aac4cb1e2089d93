"""What a test asked of rec: the `rec_config` fixture and `@pytest.mark.rec` merged and checked.

As pytest-recording does with `vcr_config`, settings merge from broad to narrow: the
`rec_config` fixture (any scope), then the markers from the module's down to the test's,
the closest last. Every key is checked when the test is set up, so a misspelt key or
value (`match="bdy"`) is an error naming it, never a silent default.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from replayer.pacing import parse_timing

if TYPE_CHECKING:
    from replayer.match_modes import MatchMode

# pytest-recording's record modes.
MODES = ("none", "once", "new_episodes", "all", "rewrite")


def _sequence() -> MatchMode:
    from replayer.match_modes import MatchMode  # the replay core, imported when a test first asks for rec

    return MatchMode.sequence


@dataclass(frozen=True)
class RecOptions:
    """One test's settings; see docs/testing.md for each key."""

    cassettes: tuple[str, ...] = ()
    match: MatchMode = field(default_factory=_sequence)
    timing: str = "none"
    ignore: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    repeat: bool = False
    allow_unused: bool = False
    allow_unconsumed: bool = False
    allow_drift: bool = False
    validate: bool = True
    fault: tuple[str, ...] = ()
    redact: tuple[str, ...] = ()  # rules for `rec record --redact` when the test records
    max_age: datetime.timedelta | None = None
    on_expiry: str = "warn"


_KEYS = {f.name for f in fields(RecOptions)}
_BOOLS = {"repeat", "allow_unused", "allow_unconsumed", "allow_drift", "validate"}
_LISTS = {"ignore", "mask", "fault", "redact"}


def merge_options(layers: Iterable[tuple[str, Sequence[Any], Mapping[str, Any]]]) -> RecOptions:
    """Options from ``(where, cassette args, keyword settings)`` layers, broad to narrow; ValueError names a bad one."""
    values: dict[str, Any] = {}
    for where, args, settings in layers:
        try:
            if args:
                values["cassettes"] = tuple(os.fspath(arg) for arg in args)
            for key, value in settings.items():
                values[key] = _checked(key, value)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    return RecOptions(**values)


def _checked(key: str, value: Any) -> Any:
    if key not in _KEYS:
        raise ValueError(f"unknown setting {key!r}; rec knows {', '.join(sorted(_KEYS))}")
    if key == "cassettes":
        return tuple(os.fspath(v) for v in ([value] if isinstance(value, str | os.PathLike) else value))
    from replayer.faults import parse_fault
    from replayer.match_modes import MatchMode

    if key == "match":
        return MatchMode.parse(value)
    if key == "timing":
        parse_timing(value)
        return value
    if key in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{key}={value!r} must be True or False")
        return value
    if key in _LISTS:
        items = (value,) if isinstance(value, str) else tuple(value)
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{key} must be a string or a list of strings")
        if key == "fault":
            for spec in items:
                parse_fault(spec)
        return items
    from rec.check.age import parse_max_age, parse_on_expiry  # rec check's parsers, imported when a test sets one

    if key == "max_age":
        return None if value is None else parse_max_age(value)
    return parse_on_expiry(value)  # the only key left: on_expiry
