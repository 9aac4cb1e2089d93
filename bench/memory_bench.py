"""Memory of a replay: RSS of `rec replay` while serving, sampled from /proc.

- Under drift: every request differs from its recording (`--repeat`), and every drift is counted
  with the first 100 kept whole (docs/replaying.md), so RSS should stay flat however long the run.
- Serving every exchange of a large Codex-like cassette once, in order: what each served exchange
  leaves behind (its place in the conversation, the report's counters) is small, and the decoded
  answers live in a bounded cache, so RSS grows by far less than the cassette decodes to.

Run: .venv/bin/python -m bench memory_bench [drift|curve]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.paths_bench import Server, codex_cassette, codex_request, http_cassette, post_all, rec_replay

CURVE_SIZES = (30_000, 100_000)
SAMPLES = 10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def drift(seconds: float = 30.0) -> None:
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


def curve(sizes: tuple[int, ...] = CURVE_SIZES) -> None:
    """Each exchange of a Codex-like cassette served once, in order: RSS at ready, then every tenth of the way."""
    with tempfile.TemporaryDirectory(prefix="rec-bench-memory-") as tmp:
        for count in sizes:
            cassette = codex_cassette(Path(tmp) / f"codex-{count}.mpk", count)
            server = rec_replay(cassette)
            try:
                ready = rss_kib(server.process.pid)
                samples = []
                step = count // SAMPLES
                for start in range(0, count, step):
                    post_all(server, (codex_request(n) for n in range(start, min(start + step, count))))
                    samples.append(rss_kib(server.process.pid))
            finally:
                server.stop()
            stored = cassette.stat().st_size / 1e6
            print(f"{count:,} Codex-like exchanges ({stored:.1f} MB stored), each served once: RSS {ready / 1024:.0f} "
                  f"MiB ready, {samples[-1] / 1024:.0f} MiB after, grown by {(samples[-1] - ready) / 1024:.0f} MiB "
                  f"({(samples[-1] - ready) / count:.2f} KiB per exchange served)")
            print("  every tenth of the way (MiB): " + ", ".join(f"{rss / 1024:.0f}" for rss in samples))
            cassette.unlink()


def main(which: tuple[str, ...] = ("drift", "curve")) -> None:
    if "drift" in which:
        drift()
    if "curve" in which:
        curve()


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("drift", "curve"))
