"""When recorded bytes go out: the ``--timing`` setting and the one paced send loop every answer uses.

A recorded offset is relative to when the request (or WebSocket message) arrived; with a
pace of ``F`` an item goes out ``offset * F`` after that, measured from one start time so
that sleeps never add up to drift. ``None`` means as fast as possible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

Item = TypeVar("Item")


def parse_timing(value: str) -> float | None:
    """`none` -> None (as fast as possible), `recorded` -> 1.0, `scale:F` -> F; ValueError otherwise."""
    if value == "none":
        return None
    if value == "recorded":
        return 1.0
    if value.startswith("scale:"):
        try:
            factor = float(value.removeprefix("scale:"))
        except ValueError:
            raise ValueError(f"scale factor must be a number, got {value.removeprefix('scale:')!r}") from None
        if factor < 0 or factor != factor:
            raise ValueError(f"scale factor must be >= 0, got {factor}")
        return factor
    raise ValueError(f"unknown timing {value!r}: use none, recorded or scale:F")


async def sleep_until(start: float, offset_ms: float, pace: float) -> None:
    """Sleep until ``offset_ms * pace`` after ``start`` (time.monotonic); no sleep when that time has passed."""
    delay = start + offset_ms * pace / 1000.0 - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def send_paced(items: Iterable[tuple[float, Item]], send: Callable[[Item], bool], pace: float | None,
                     start: float) -> bool:
    """Send each ``(offset_ms, item)`` at its offset; ``send`` returns False once the peer is gone.

    Returns whether every item went out.
    """
    for at, item in items:
        if pace is not None:
            await sleep_until(start, at, pace)
        if not send(item):
            return False
    return True
