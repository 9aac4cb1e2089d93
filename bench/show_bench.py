"""`rec show` on a large cassette: the first rows through a pipe (`| head -3`) beside `rec show -n 1`.

The table streams: its first rows go out after the first 20 exchanges are read, so piping a large
cassette to `head` costs about what `-n 1` does, whatever the cassette's size. Wall seconds, process
start included, interleaved rounds. Run: .venv/bin/python -m bench show_bench
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.paths_bench import codex_cassette

COUNT = 100_000
ROUNDS = 5


def seconds(command: str) -> float:
    started = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-show-") as tmp:
        path = codex_cassette(Path(tmp) / "big.mpk", COUNT)
        rec = f"{sys.executable} -m rec show {path}"
        head, limited = [], []
        for _ in range(ROUNDS):
            head.append(seconds(f"{rec} | head -3"))
            limited.append(seconds(f"{rec} -n 1"))
        ratios = [h / n for h, n in zip(head, limited, strict=True)]
        print(f"{COUNT:,} exchanges, {path.stat().st_size / 1e6:.0f} MB, median of {ROUNDS} rounds: "
              f"`rec show | head -3` {statistics.median(head):.2f} s, `rec show -n 1` "
              f"{statistics.median(limited):.2f} s ({statistics.median(ratios):.2f}x)")


if __name__ == "__main__":
    main()
