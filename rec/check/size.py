"""Rule family `size`: what bloats the repository, so a person sees which exchange to trim.

An exchange is reported when its stored (compressed) size is far above the median of its
cassette's exchanges; it is a warning, not a failure, since a large answer can be the
point of a test.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

from rec.check.report import Finding

# Reported: this many times the cassette's median, and at least this big on disk.
SIZE_FACTOR = 10
SIZE_FLOOR = 64 * 1024
# A median needs a few exchanges to mean anything.
MIN_EXCHANGES = 3
FIX = "see what it holds (rec show --json); trim the test's input or output, or split the test"


def size_findings(path: str, sizes: list[int]) -> Iterator[Finding]:
    """Exchanges stored at over SIZE_FACTOR times the cassette's median (``sizes``: bytes per exchange)."""
    if len(sizes) < MIN_EXCHANGES or max(sizes) < SIZE_FLOOR:  # most cassettes: nothing big enough to weigh
        return
    median = statistics.median(sizes)
    for index, size in enumerate(sizes):
        if size >= SIZE_FLOOR and size > SIZE_FACTOR * median:
            yield Finding(path, index, "size", f"{size:,} bytes stored, {size / max(median, 1):.0f}x the cassette's "
                          f"median exchange ({median:,.0f} bytes)", FIX, fails=False)
