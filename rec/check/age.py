"""Rule family `stale`: how old a cassette is, and whether it is older than a project allows (`max_age = "90d"`).

``parse_max_age``, ``recorded_at`` and ``is_stale`` are also what the pytest plugin uses for
its per-test `max_age`/`on_expiry`.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

from rec.cassette import CassetteReader
from rec.check.report import CheckOptions, Finding

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXPIRY_ACTIONS = ("warn", "fail", "rerecord")
_FIX = {
    "fail": "record it again (pytest --rec-mode=rewrite, or rec record)",
    "warn": "record it again when you can (on_expiry = \"warn\" lets the check pass)",
    "rerecord": "the next pytest --rec-mode=once run records it again (on_expiry = \"rerecord\")",
}


def parse_max_age(text: str) -> datetime.timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` or ``45s`` as a timedelta; ValueError naming a bad value."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(text))
    if found is None:
        raise ValueError(f"max_age {text!r} is not a duration like 90d, 12h, 2w, 30m or 45s")
    return datetime.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def parse_on_expiry(text: str) -> str:
    """``warn``, ``fail`` or ``rerecord``; ValueError naming a bad value."""
    if text not in EXPIRY_ACTIONS:
        raise ValueError(f"on_expiry {text!r} is not one of {', '.join(EXPIRY_ACTIONS)}")
    return text


def recorded_at(path: str | os.PathLike[str]) -> datetime.datetime | None:
    """When the cassette was written (its header's created_at, timezone-aware), or None when it does not say."""
    with CassetteReader(path) as reader:
        created = reader.header.created_at
    try:
        stamp = datetime.datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=datetime.UTC)


def is_stale(path: str | os.PathLike[str], max_age: datetime.timedelta,
             now: datetime.datetime | None = None) -> bool:
    """Whether the cassette is older than ``max_age`` (a cassette that does not say when is not stale)."""
    written = recorded_at(path)
    return written is not None and (now or datetime.datetime.now(datetime.UTC)) - written > max_age


def stale_finding(path: Path, options: CheckOptions, now: datetime.datetime | None = None) -> Finding | None:
    """The cassette's finding when it is older than max_age; on_expiry decides whether it fails the check."""
    if options.max_age is None:
        return None
    written = recorded_at(path)
    age = (now or datetime.datetime.now(datetime.UTC)) - written if written is not None else None
    if age is None or age <= options.max_age:  # the comparison is_stale makes, on one read of the header
        return None
    return Finding(str(path), None, "stale", f"recorded {written:%Y-%m-%d}, {age.days} days ago: older than max_age "
                   f"({options.max_age})", _FIX[options.on_expiry], fails=options.on_expiry == "fail")
