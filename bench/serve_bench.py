"""`rec serve`: requests through a session against `rec replay` serving the same cassette, and sessions per second.

Run: .venv/bin/python -m bench serve_bench
"""

from __future__ import annotations

import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.paths_bench import PYTHON, Server, body, http_cassette, post_all, rec_replay
from replayer.serve_client import RecServe

ROUNDS = 3
REQUESTS = 5000
# The cassette a second session loads while the first is measured (its report lists every one unused).
ISOLATION_EXCHANGES = 100_000


def through_session(serve: Server, cassette: Path, bodies: list[bytes]) -> float:
    control = RecServe(f"http://{serve.host}:{serve.port}")
    session = control.create_session(cassettes=[str(cassette)], repeat=True)
    prefix = session.base_url.split(f":{serve.port}", 1)[1].removesuffix("/v1").encode()
    started = time.perf_counter()
    _post_prefixed(serve, bodies, prefix)
    elapsed = time.perf_counter() - started
    session.delete()
    return len(bodies) / elapsed


def _post_prefixed(server: Server, bodies: list[bytes], prefix: bytes) -> None:
    with socket.create_connection((server.host, server.port)) as sock:
        for raw in bodies:
            sock.sendall(b"POST %s/v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (prefix, len(raw), raw))
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += sock.recv(65536)


def latencies(serve: Server, prefix: bytes, raw: bytes, until: Callable[[], bool], at_least: int) -> list[float]:
    """Milliseconds per request (sent, answer read whole), one after another, until ``until()`` and ``at_least``."""
    taken: list[float] = []
    with socket.create_connection((serve.host, serve.port)) as sock:
        while len(taken) < at_least or not until():
            started = time.perf_counter()
            sock.sendall(b"POST %s/v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (prefix, len(raw), raw))
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += sock.recv(65536)
            taken.append((time.perf_counter() - started) * 1000)
    return taken


def isolation(folder: Path) -> None:
    """How much a session's answers slow while another session loads a large cassette, then has its report built."""
    small = http_cassette(folder / "small.mpk", 1)
    large = http_cassette(folder / "large.mpk", ISOLATION_EXCHANGES)
    raw = json.dumps(body(0)).encode()
    serve = Server([PYTHON, "-m", "rec", "serve", "--quiet", "--root", str(folder)])
    try:
        control = RecServe(f"http://{serve.host}:{serve.port}")
        session = control.create_session(cassettes=[str(small)], repeat=True)
        prefix = session.base_url.split(f":{serve.port}", 1)[1].removesuffix("/v1").encode()
        alone = latencies(serve, prefix, raw, lambda: True, 2000)
        done = threading.Event()
        loaded: list[Any] = []

        def load_then_report() -> None:
            loaded.append(control.create_session(cassettes=[str(large)]))
            loaded[0].report()
            done.set()

        started = time.perf_counter()
        threading.Thread(target=load_then_report, daemon=True).start()
        beside = latencies(serve, prefix, raw, done.is_set, 200)
        took = time.perf_counter() - started
    finally:
        serve.stop()

    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        return (f"  {name:<40} p50 {statistics.median(values):6.2f} ms  p99 {ordered[int(len(ordered) * 0.99)]:6.2f} ms"
                f"  max {ordered[-1]:7.2f} ms  ({len(values)} requests)")

    print(f"\nOne session's requests while another loads {ISOLATION_EXCHANGES:,} exchanges and has its report built "
          f"({took:.1f} s):")
    print(line("alone", alone))
    print(line("beside the load and the report", beside))
    print(f"  p50 ratio {statistics.median(beside) / statistics.median(alone):.2f}x")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-serve-") as tmp:
        folder = Path(tmp)
        cassette = http_cassette(folder / "one.mpk", 1)
        bodies = [json.dumps(body(0)).encode()] * REQUESTS
        replay_rates, session_rates, lifecycles = [], [], []
        serve = Server([PYTHON, "-m", "rec", "serve", "--quiet", "--root", str(folder)])
        try:
            for _ in range(ROUNDS):
                replay = rec_replay(cassette, "--repeat")
                started = time.perf_counter()
                post_all(replay, bodies)
                replay_rates.append(REQUESTS / (time.perf_counter() - started))
                replay.stop()
                session_rates.append(through_session(serve, cassette, bodies))
                control = RecServe(f"http://{serve.host}:{serve.port}")
                started = time.perf_counter()
                for _ in range(200):
                    control.create_session(cassettes=[str(cassette)]).delete()
                lifecycles.append(200 / (time.perf_counter() - started))
        finally:
            serve.stop()
        ratios = [s / r for s, r in zip(session_rates, replay_rates, strict=True)]
        print(f"requests/s, one connection, {REQUESTS} requests: rec replay {statistics.median(replay_rates):,.0f}, "
              f"through a rec serve session {statistics.median(session_rates):,.0f} = "
              f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")
        print(f"sessions created and deleted per second: {statistics.median(lifecycles):,.0f}")
        isolation(folder)


if __name__ == "__main__":
    main()
