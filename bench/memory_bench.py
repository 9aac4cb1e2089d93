"""Memory of a long replay under drift: RSS of `rec replay` sampled while every request differs from its recording.

Every drift is counted and the first 100 are kept whole (docs/replaying.md), so RSS should stay flat
however long the run. Run: .venv/bin/python -m bench memory_bench [SECONDS]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.paths_bench import Server, http_cassette, post_all, rec_replay


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main(seconds: float = 30.0) -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-memory-") as tmp:
        cassette = http_cassette(Path(tmp) / "one.mpk", 1)
        server: Server = rec_replay(cassette, "--repeat")
        try:
            samples, sent, started = [], 0, time.monotonic()
            while time.monotonic() - started < seconds:
                # A different prompt each time: the request matches (sequence, --repeat) and drifts.
                post_all(server, [json.dumps({"model": "gpt-test", "input": f"drift {sent + k}", "stream": True})
                                  .encode() for k in range(500)])
                sent += 500
                samples.append((time.monotonic() - started, rss_kib(server.process.pid)))
        finally:
            server.stop()
    first, last = samples[0][1], samples[-1][1]
    peak = max(rss for _, rss in samples)
    print(f"{sent:,} drifting requests in {seconds:.0f} s: RSS {first / 1024:.1f} MiB after the first 500, "
          f"{last / 1024:.1f} MiB at the end, peak {peak / 1024:.1f} MiB "
          f"({(last - first) / 1024 / max(samples[-1][0] - samples[0][0], 1e-9):.3f} MiB/s)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
