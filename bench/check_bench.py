"""`rec check` over 1,000 cassettes: seconds per hundred, and how that splits between reading and the rules.

Run: .venv/bin/python -m bench check_bench
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.paths_bench import body, events
from rec.cassette import load_cassette
from rec.check import CheckOptions, check_paths
from rec.synth.scenario import Scenario

CASSETTES = 1000
ROUNDS = 3


def corpus(folder: Path) -> None:
    """1,000 small cassettes of five streamed exchanges each, as a test suite's folder holds them."""
    for k in range(CASSETTES):
        scenario = Scenario()
        for n in range(5):
            scenario.sse_turn(events(n, f"answer {n} of cassette {k}"), request=body(n))
        scenario.write(folder / f"test_{k:04d}.mpk")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-check-") as tmp:
        folder = Path(tmp)
        corpus(folder)
        reads, checks = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            for path in sorted(folder.glob("*.mpk")):
                load_cassette(path)
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = check_paths([folder], CheckOptions())
            checks.append(time.perf_counter() - started)
            assert not report.findings
        per_hundred = statistics.median(checks) / CASSETTES * 100
        print(f"rec check, {CASSETTES} cassettes x 5 exchanges: {statistics.median(checks):.2f} s "
              f"(min {min(checks):.2f}, max {max(checks):.2f}) = {per_hundred:.3f} s per hundred; "
              f"reading them alone {statistics.median(reads):.2f} s "
              f"({statistics.median(checks) / statistics.median(reads):.2f}x)")


if __name__ == "__main__":
    main()
