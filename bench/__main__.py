"""`python -m bench` (or `make bench`): run every benchmark on demand and print its table.

Benchmarks are never part of the test suite: the machines are shared and noisy, so each
benchmark runs its peers in the same run and reports ratios.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("bench.record_bench", "bench.replay_bench", "bench.paths_bench", "bench.check_bench", "bench.serve_bench",
              "bench.memory_bench", "bench.load_bench", "bench.show_bench", "bench.suite_bench", "bench.diff_bench",
              "bench.hostile_bench")


def main(argv: list[str]) -> int:
    wanted = argv or [name.removeprefix("bench.") for name in BENCHMARKS]
    for name in BENCHMARKS:
        if name.removeprefix("bench.") not in wanted:
            continue
        print(f"== {name}", flush=True)
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
