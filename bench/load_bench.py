"""Big cassettes: time and peak RSS to load 100,000 exchanges into a replay server, against decoding them all.

Each figure is a fresh process (imports excluded from the time, included in the RSS).
Run: .venv/bin/python -m bench load_bench
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.paths_bench import http_cassette

COUNT = 100_000
# Peak RSS from VmHWM: ru_maxrss would count the bench process this child was forked from.
MEASURE = '''
import sys, time
from pathlib import Path
from replayer.server import ReplayServer
from rec.cassette import load_cassette
started = time.perf_counter()
if sys.argv[2] == "replay":
    ReplayServer.from_cassettes([sys.argv[1]], keep_requests=False)
else:
    load_cassette(sys.argv[1])
elapsed = time.perf_counter() - started
peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:"))
print(f"{elapsed:.2f} {peak / 1024:.0f}")
'''


def measure(path: Path, how: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), how], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-load-") as tmp:
        path = http_cassette(Path(tmp) / "big.mpk", COUNT)
        size = path.stat().st_size
        replay = min(measure(path, "replay") for _ in range(3))
        decoded = min(measure(path, "decode") for _ in range(3))
    print(f"{COUNT:,} exchanges, {size / 1e6:.1f} MB on disk (best of 3):")
    print(f"  rec replay loading it (indexed)   {replay[0]:.2f} s, peak RSS {replay[1]:.0f} MiB")
    print(f"  every exchange decoded            {decoded[0]:.2f} s, peak RSS {decoded[1]:.0f} MiB "
          f"({decoded[0] / replay[0]:.1f}x the time, {decoded[1] / replay[1]:.1f}x the memory)")


if __name__ == "__main__":
    main()
