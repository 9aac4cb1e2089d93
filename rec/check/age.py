"""How old a cassette is, and whether it is older than a project allows (`max_age = "90d"`)."""

from __future__ import annotations

import datetime
import os
import re

from rec.cassette import CassetteReader

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXPIRY_ACTIONS = ("warn", "fail", "rerecord")


def parse_max_age(text: str) -> datetime.timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` or ``45s`` as a timedelta; ValueError naming a bad value."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(text))
    if found is None:
        raise ValueError(f"max_age {text!r} is not a duration like 90d, 12h, 2w, 30m or 45s")
    return datetime.timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def parse_on_expiry(text: str) -> str:
    if text not in EXPIRY_ACTIONS:
        raise ValueError(f"on_expiry {text!r} is not one of {', '.join(EXPIRY_ACTIONS)}")
    return text


def recorded_at(path: str | os.PathLike[str]) -> datetime.datetime | None:
    """When the cassette was written (its header's created_at), or None when the header does not say."""
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
