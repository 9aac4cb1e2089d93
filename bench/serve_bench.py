"""`rec serve`: requests through a session against `rec replay` serving the same cassette, and sessions per second.

Run: .venv/bin/python -m bench serve_bench
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.paths_bench import PYTHON, Server, body, http_cassette, post_all, rec_replay
from replayer.serve_client import RecServe

ROUNDS = 3
REQUESTS = 5000


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
    import socket

    with socket.create_connection((server.host, server.port)) as sock:
        for raw in bodies:
            sock.sendall(b"POST %s/v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (prefix, len(raw), raw))
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += sock.recv(65536)


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


if __name__ == "__main__":
    main()
