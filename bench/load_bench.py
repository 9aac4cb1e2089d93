"""Loading cassettes: 100,000 exchanges into a replay server against decoding them all, 10,000 exchanges
against vcrpy reading the same interactions from its YAML cassette, and `--match body` against sequence on
Codex-like cassettes of 10,000 and 30,000 exchanges (interleaved rounds).

Each figure is a fresh process (imports excluded from the CPU time, included in the RSS). vcrpy is not a
dependency of rec: `pip install vcrpy` to include it (the row is skipped without it).
Run: .venv/bin/python -m bench load_bench
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.paths_bench import codex_cassette, http_cassette
from rec.cassette import HttpExchange, load_cassette

COUNT = 100_000
VCR_COUNT = 10_000
MATCH_SIZES = (10_000, 30_000)
ROUNDS = 5
# Peak RSS from VmHWM: ru_maxrss would count the bench process this child was forked from.
MEASURE = '''
import sys, time
from pathlib import Path
from replayer.server import ReplayServer
from rec.cassette import load_cassette
started = time.process_time()
if sys.argv[2].startswith("replay"):
    ReplayServer.from_cassettes([sys.argv[1]], keep_requests=False, match=sys.argv[2].partition("-")[2] or "sequence")
elif sys.argv[2] == "vcrpy":
    from vcr.persisters.filesystem import FilesystemPersister
    from vcr.serializers import yamlserializer
    FilesystemPersister.load_cassette(sys.argv[1], yamlserializer)
else:
    load_cassette(sys.argv[1])
elapsed = time.process_time() - started
peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:"))
print(f"{elapsed:.2f} {peak / 1024:.0f}")
'''


def measure(path: Path, how: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), how], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def vcrpy_cassette(source: Path, target: Path) -> Path | None:
    """The same interactions as a vcrpy YAML cassette (written by vcrpy's own serializer); None without vcrpy."""
    try:
        from vcr.serializers import yamlserializer
    except ImportError:
        return None
    interactions = []
    for exchange in load_cassette(source).exchanges:
        assert isinstance(exchange, HttpExchange) and exchange.response is not None
        request, response = exchange.request, exchange.response
        interactions.append({
            "request": {"method": request.method, "uri": f"https://api.openai.com{request.path}",
                        "body": request.body.decode(), "headers": {k: [v] for k, v in request.headers}},
            "response": {"status": {"code": response.status, "message": response.reason or "OK"},
                         "headers": {k: [v] for k, v in response.headers}, "body": {"string": response.body.decode()}},
        })
    target.write_text(yamlserializer.serialize({"interactions": interactions, "version": 1}))
    return target


def body_against_sequence(folder: Path) -> None:
    """The CPU a load costs with --match body over sequence, per round, on Codex-like cassettes."""
    for count in MATCH_SIZES:
        path = codex_cassette(folder / f"codex-{count}.mpk", count)
        sequence, body = [], []
        for _ in range(ROUNDS):
            sequence.append(measure(path, "replay"))
            body.append(measure(path, "replay-body"))
        ratios = [b[0] / s[0] for s, b in zip(sequence, body, strict=True)]
        (seq_cpu, seq_rss), (body_cpu, body_rss) = ([statistics.median(r[k] for r in runs) for k in (0, 1)]
                                                    for runs in (sequence, body))
        print(f"{count:,} Codex-like exchanges ({path.stat().st_size / 2**20:.1f} MiB), median of {ROUNDS} rounds: "
              f"sequence {seq_cpu:.2f} s CPU, peak RSS {seq_rss:.0f} MiB; body {body_cpu:.2f} s CPU, {body_rss:.0f} "
              f"MiB: body loads at {statistics.median(ratios):.2f}x sequence (min {min(ratios):.2f}, "
              f"max {max(ratios):.2f})")
        path.unlink()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-load-") as tmp:
        body_against_sequence(Path(tmp))
        path = http_cassette(Path(tmp) / "big.mpk", COUNT)
        size = path.stat().st_size
        replay = min(measure(path, "replay") for _ in range(3))
        decoded = min(measure(path, "decode") for _ in range(3))
        print(f"{COUNT:,} exchanges, {size / 1e6:.1f} MB on disk (best of 3):")
        print(f"  rec replay loading it (indexed)   {replay[0]:.2f} s, peak RSS {replay[1]:.0f} MiB")
        print(f"  every exchange decoded            {decoded[0]:.2f} s, peak RSS {decoded[1]:.0f} MiB "
              f"({decoded[0] / replay[0]:.1f}x the time, {decoded[1] / replay[1]:.1f}x the memory)")
        small = http_cassette(Path(tmp) / "small.mpk", VCR_COUNT)
        yaml = vcrpy_cassette(small, Path(tmp) / "small.yaml")
        if yaml is None:
            print("vcrpy is not installed: pip install vcrpy to compare with it")
            return
        rec_load = min(measure(small, "replay") for _ in range(3))
        vcr_load = min(measure(yaml, "vcrpy") for _ in range(3))
        print(f"{VCR_COUNT:,} exchanges: rec {small.stat().st_size / 1e6:.1f} MB, vcrpy YAML "
              f"{yaml.stat().st_size / 1e6:.1f} MB ({yaml.stat().st_size / small.stat().st_size:.1f}x)")
        print(f"  rec replay loading it             {rec_load[0]:.2f} s, peak RSS {rec_load[1]:.0f} MiB")
        print(f"  vcrpy reading its cassette        {vcr_load[0]:.2f} s, peak RSS {vcr_load[1]:.0f} MiB "
              f"(rec takes {rec_load[0] / vcr_load[0]:.2f}x vcrpy's time)")


if __name__ == "__main__":
    main()
