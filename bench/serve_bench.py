"""`rec serve`: requests through a session against `rec replay` serving the same cassette, sessions per second, and
one session's latency while another loads a large cassette.

Server CPU per request (``paths_bench.cpu_seconds``), at one connection and at 16 concurrent connections, each case in
interleaved rounds beside its peer (which of the two goes first alternating round by round); the same under wrk; and
the server's instructions per request under callgrind (when valgrind is installed), which the machine's noise does
not move.
Run: .venv/bin/python -m bench serve_bench
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.paths_bench import PYTHON, Server, body, http_cassette, rec_replay
from bench.replay_bench import wrk
from replayer.serve_client import RecServe

ROUNDS = 15
# Requests per second under wrk, rounds of WRK_SECONDS each, alternating which server goes first.
WRK_ROUNDS = 20
WRK_SECONDS = 2
REQUESTS = 8000
CONNECTIONS = (1, 16)
# The cassette a second session loads while the first is measured (its report lists every one unused).
ISOLATION_EXCHANGES = 100_000


async def _post_concurrently(server: Server, raw: bytes, prefix: bytes, count: int, connections: int) -> None:
    """``count`` requests spread over ``connections`` keep-alive connections, each answer read to its end."""
    request = (b"POST %s/v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               b"content-length: %d\r\n\r\n%s" % (prefix, len(raw), raw))

    async def one_connection(share: int) -> None:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        for _ in range(share):
            writer.write(request)
            await reader.readuntil(b"0\r\n\r\n")
        writer.close()

    await asyncio.gather(*(one_connection(count // connections) for _ in range(connections)))


def cpu_per_request(server: Server, raw: bytes, prefix: bytes, connections: int) -> float:
    before = server.cpu()
    asyncio.run(_post_concurrently(server, raw, prefix, REQUESTS, connections))
    return (server.cpu() - before) / REQUESTS * 1e6


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


def wrk_rounds(folder: Path, replay: Server, serve: Server, prefix: str, raw: bytes) -> None:
    """Requests per second through a session against the process, under wrk: one thread in C on CPU 1, the servers
    on CPU 0, so each server runs its CPU full with a client whose batching does not vary with the server's (the
    Python clients above do: their rounds swing). The ratio is the median of the rounds' ratios."""
    script = folder / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(raw.decode())}\n")
    targets = [("rec replay", replay.port, "/v1/responses"), ("session", serve.port, f"{prefix}/v1/responses")]
    print(f"\nrequests per second under wrk -t1 ({WRK_ROUNDS} rounds of {WRK_SECONDS} s each, alternating):")
    for connections in CONNECTIONS:
        rates: dict[str, list[float]] = {"rec replay": [], "session": []}
        for round_number in range(WRK_ROUNDS):
            for name, port, path in targets[::1 if round_number % 2 == 0 else -1]:
                measured = wrk(port, script, connections, WRK_SECONDS, path)
                assert measured["non_2xx"] == 0, f"{name} answered {measured['non_2xx']:.0f} requests with an error"
                rates[name].append(measured["rps"])
        ratios = sorted(s / p for s, p in zip(rates["session"], rates["rec replay"], strict=True))
        process, session = statistics.median(rates["rec replay"]), statistics.median(rates["session"])
        print(f"  {connections:>2} connection(s): rec replay {process:,.0f}/s, through a session {session:,.0f}/s: "
              f"the session serves {statistics.median(ratios):.2f}x the process (min {ratios[0]:.2f}, max "
              f"{ratios[-1]:.2f})")


def instructions_per_request(folder: Path, command: list[str], prefix_of: Callable[[Server], bytes], raw: bytes,
                             connections: int, warm_up: int = 300, counted: int = 1600) -> float:
    """The server's instructions per request (callgrind), counted over ``counted`` requests after ``warm_up``: the
    one figure here the machine's noise does not move. Under callgrind a server runs tens of times slower, so with
    16 connections it always finds all 16 requests waiting, the process and the session alike."""
    out = folder / f"callgrind.{len(list(folder.glob('callgrind.*')))}"
    server = Server(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command])
    try:
        prefix = prefix_of(server)
        asyncio.run(_post_concurrently(server, raw, prefix, warm_up, connections))
        subprocess.run(["callgrind_control", "--zero", str(server.process.pid)], check=True, capture_output=True)
        asyncio.run(_post_concurrently(server, raw, prefix, counted, connections))
        subprocess.run(["callgrind_control", "--dump", str(server.process.pid)], check=True, capture_output=True)
    finally:
        server.stop()
    [dump] = folder.glob(f"{out.name}.*")  # the counts since --zero, dumped while the server still ran
    summary = next(line for line in dump.read_text().splitlines() if line.startswith(("summary:", "totals:")))
    return int(summary.split()[1]) / counted


def instruction_counts(folder: Path, cassette: Path, raw: bytes) -> None:
    def session_prefix(server: Server) -> bytes:
        session = RecServe(f"http://{server.host}:{server.port}").create_session(cassettes=[str(cassette)],
                                                                                 repeat=True)
        return session.base_url.split(f":{server.port}", 1)[1].removesuffix("/v1").encode()

    print("\nserver instructions per request (callgrind):")
    for connections in CONNECTIONS:
        process = instructions_per_request(folder, [PYTHON, "-m", "rec", "replay", str(cassette), "--repeat",
                                                    "--quiet"], lambda server: b"", raw, connections)
        session = instructions_per_request(folder, [PYTHON, "-m", "rec", "serve", "--quiet", "--root", str(folder)],
                                           session_prefix, raw, connections)
        print(f"  {connections:>2} connection(s): rec replay {process:,.0f}, through a session {session:,.0f}: the "
              f"session serves {process / session:.3f}x the process")


def main() -> None:
    # The servers run on CPU 0 (paths_bench.Server): the clients keep to CPU 1, or they would take turns with the
    # server they measure and change how many requests it finds waiting per wakeup.
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="rec-bench-serve-") as tmp:
        folder = Path(tmp)
        cassette = http_cassette(folder / "one.mpk", 1)
        raw = json.dumps(body(0)).encode()
        replay, serve = rec_replay(cassette, "--repeat"), Server([PYTHON, "-m", "rec", "serve", "--quiet",
                                                                  "--root", str(folder)])
        control = RecServe(f"http://{serve.host}:{serve.port}")
        results: dict[str, list[float]] = {}
        lifecycles = []
        try:
            session = control.create_session(cassettes=[str(cassette)], repeat=True)
            prefix = session.base_url.split(f":{serve.port}", 1)[1].removesuffix("/v1").encode()
            for round_number in range(ROUNDS):
                for connections in CONNECTIONS:
                    # Which goes first alternates, so neither always runs on the machine the other left behind.
                    cases = [("rec replay", replay, b""), ("rec serve session", serve, prefix)]
                    for name, server, target_prefix in cases[::1 if round_number % 2 == 0 else -1]:
                        results.setdefault(f"{name}, {connections} conn", []).append(
                            cpu_per_request(server, raw, target_prefix, connections))
                started = time.perf_counter()
                for _ in range(200):
                    control.create_session(cassettes=[str(cassette)]).delete()
                lifecycles.append(200 / (time.perf_counter() - started))
            wrk_rounds(folder, replay, serve, prefix.decode(), raw)
            session.delete()
        finally:
            replay.stop()
            serve.stop()
    print(f"server CPU per request (us, median of {ROUNDS} interleaved rounds of {REQUESTS} requests):")
    for connections in CONNECTIONS:
        process, session = results[f"rec replay, {connections} conn"], results[f"rec serve session, {connections} conn"]
        # A session serving as fast as the process: its requests per CPU second over the process's, per round.
        speeds = [p / s for p, s in zip(process, session, strict=True)]
        print(f"  {connections:>2} connection(s): rec replay {statistics.median(process):.1f}, through a session "
              f"{statistics.median(session):.1f}: the session serves {statistics.median(speeds):.2f}x the process "
              f"(min {min(speeds):.2f}, max {max(speeds):.2f})")
    print(f"sessions created and deleted per second: {statistics.median(lifecycles):,.0f}")
    with tempfile.TemporaryDirectory(prefix="rec-bench-serve-") as tmp:
        isolation(Path(tmp))
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        with tempfile.TemporaryDirectory(prefix="rec-bench-serve-") as tmp:
            folder = Path(tmp)
            instruction_counts(folder, http_cassette(folder / "one.mpk", 1), json.dumps(body(0)).encode())
    else:
        print("\nvalgrind is not installed (apt-get install valgrind): no instruction counts")


if __name__ == "__main__":
    main()
