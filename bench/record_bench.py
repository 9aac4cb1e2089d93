"""Recording overhead: `rec record` against plain `mitmdump` in reverse mode and a direct connection.

One exchange for every path: a ~2 KB POST /v1/responses answered by a 20-event SSE
stream, each event its own HTTP chunk, from a stand-in upstream (raw asyncio on uvloop)
that stamps every event with the CLOCK_MONOTONIC time it was written. The client (a
raw blocking socket, keep-alive) notes when each event arrives, so:

- *exchange time*: request sent until the last chunk read, upstream sending as fast as
  it can, sequential on one connection;
- *per-chunk latency*: event written by the upstream until read by the client, with
  10 ms between events (a model's pacing), so each chunk crosses the proxy on its own.

Peers in the same run, interleaved round by round: direct to the upstream; `mitmdump
--mode reverse` as installed (it buffers whole responses) and with `stream_large_bodies=1`
(it streams, as `rec record` does); `rec record` writing a cassette. Proxies are pinned
to core 0, the upstream and the client to core 1. Run on demand:
`.venv/bin/python -m bench record_bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from multiprocessing import Process
from pathlib import Path

from bench.replay_bench import PYTHON, free_port, pinned, request_body, wait_listening
from rec.cassette import load_cassette

EVENTS = 20
GAP_MS = 10
ROUNDS = 3
EXCHANGES_PER_ROUND = 100
PACED_EXCHANGES_PER_ROUND = 6
PROXY_CORE, OTHER_CORE = "0", "1"
_STAMP = re.compile(rb'"sent_ns": (\d+)')


# --- the stand-in upstream ------------------------------------------------------------


def _event(index: int) -> bytes:
    kind = "response.created" if index == 0 else "response.completed" if index == EVENTS - 1 else \
        "response.output_text.delta"
    data = {"type": kind, "sequence_number": index, "delta": "The quick brown fox jumps over the lazy dog. "[index:],
            "sent_ns": time.monotonic_ns()}
    payload = f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(payload), payload)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            lowered = {k.strip().lower(): v.strip() for k, v in headers.items()}
            await reader.readexactly(int(lowered.get(b"content-length", b"0")))
            gap_s = int(lowered.get(b"x-bench-gap-ms", b"0")) / 1000
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for index in range(EVENTS):
                if gap_s and index:
                    await writer.drain()
                    await asyncio.sleep(gap_s)
                writer.write(_event(index))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def serve_upstream(listener: socket.socket) -> None:
    """The upstream process: answers every request on ``listener`` with the stamped SSE stream."""
    import uvloop

    os.sched_setaffinity(0, {int(OTHER_CORE)})

    async def main() -> None:
        server = await asyncio.start_server(_answer, sock=listener)
        await server.serve_forever()

    uvloop.run(main())


# --- the client -----------------------------------------------------------------------


class Client:
    """One keep-alive connection; ``exchange`` returns (total seconds, per-event latencies in seconds)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.body = request_body()

    def exchange(self, gap_ms: int = 0) -> tuple[float, list[float]]:
        head = (f"POST /v1/responses HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                f"authorization: Bearer sk-bench-secret-0123456789\r\nx-bench-gap-ms: {gap_ms}\r\n"
                f"content-length: {len(self.body)}\r\n\r\n").encode()
        started = time.monotonic_ns()
        self.sock.sendall(head + self.body)
        buffer = b""
        scanned = 0
        latencies: list[float] = []
        while not buffer.endswith(b"\r\n0\r\n\r\n"):
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the proxy closed the connection mid-answer")
            now = time.monotonic_ns()
            buffer += data
            for stamp in _STAMP.finditer(buffer, scanned):
                if buffer.find(b"\n\n", stamp.end()) < 0:
                    break  # the event is not whole yet: its stamp may still grow digits
                latencies.append((now - int(stamp.group(1))) / 1e9)
                scanned = stamp.end()
        if len(latencies) != EVENTS:
            raise RuntimeError(f"expected {EVENTS} events, read {len(latencies)}")
        return (time.monotonic_ns() - started) / 1e9, latencies

    def close(self) -> None:
        self.sock.close()


# --- the paths under test -------------------------------------------------------------


def start_mitmdump(upstream: int, folder: Path, streaming: bool) -> tuple[subprocess.Popen[bytes] | None, int]:
    port = free_port()
    mitmdump = shutil.which("mitmdump", path=str(Path(PYTHON).parent)) or "mitmdump"
    extra = ["--set", "stream_large_bodies=1"] if streaming else []
    process = subprocess.Popen(pinned([mitmdump, "-q", "--listen-host", "127.0.0.1", "-p", str(port),
                                       "--mode", f"reverse:http://127.0.0.1:{upstream}", *extra], PROXY_CORE),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port


def start_rec_record(upstream: int, folder: Path) -> tuple[subprocess.Popen[bytes] | None, int]:
    port = free_port()
    process = subprocess.Popen(pinned([PYTHON, "-m", "rec", "record", "--upstream", f"http://127.0.0.1:{upstream}",
                                       "-o", str(folder / "bench.mpk"), "--port", str(port)], PROXY_CORE),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, port


Starter = Callable[[int, Path], tuple["subprocess.Popen[bytes] | None", int]]
PATHS: dict[str, Starter] = {
    "direct (no proxy)": lambda upstream, folder: (None, upstream),
    "mitmdump reverse (default: buffers)": lambda upstream, folder: start_mitmdump(upstream, folder, False),
    "mitmdump reverse, stream_large_bodies=1": lambda upstream, folder: start_mitmdump(upstream, folder, True),
    "rec record": start_rec_record,
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    os.sched_setaffinity(0, {int(OTHER_CORE)})
    listener = socket.create_server(("127.0.0.1", 0))
    upstream_port = listener.getsockname()[1]
    upstream = Process(target=serve_upstream, args=(listener,), daemon=True)
    upstream.start()
    totals: dict[str, list[float]] = {name: [] for name in PATHS}
    chunks: dict[str, list[float]] = {name: [] for name in PATHS}
    with tempfile.TemporaryDirectory(prefix="rec-record-bench-") as tmp:
        folder = Path(tmp)
        processes = {}
        try:
            for name, start in PATHS.items():
                processes[name] = start(upstream_port, folder)
            for _, port in processes.values():
                wait_listening(port)
            for round_number in range(ROUNDS):
                print(f"round {round_number + 1}/{ROUNDS}", flush=True)
                for name, (_, port) in processes.items():
                    client = Client(port)
                    for _ in range(10):  # warm up the connection and the proxy's code paths
                        client.exchange()
                    totals[name] += [client.exchange()[0] for _ in range(EXCHANGES_PER_ROUND)]
                    for _ in range(PACED_EXCHANGES_PER_ROUND):
                        chunks[name] += client.exchange(GAP_MS)[1][1:]  # the first event waits on the request
                    client.close()
        finally:
            for process, _ in processes.values():
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
            upstream.terminate()
        cassette = folder / "bench.mpk"
        recorded = len(load_cassette(cassette).exchanges) if cassette.exists() else 0
    report(totals, chunks, recorded)


def report(totals: dict[str, list[float]], chunks: dict[str, list[float]], recorded: int) -> None:
    direct_total = statistics.median(totals["direct (no proxy)"])
    direct_chunk = statistics.median(chunks["direct (no proxy)"])
    mitm_total = statistics.median(totals["mitmdump reverse, stream_large_bodies=1"])
    print(f"\n{EVENTS}-event SSE, ~2 KB request; exchange: median of {ROUNDS}x{EXCHANGES_PER_ROUND} sequential; "
          f"chunk: {GAP_MS} ms between events, {ROUNDS}x{PACED_EXCHANGES_PER_ROUND}x{EVENTS - 1} chunks\n")
    print("| path | exchange (median) | vs streaming mitmdump | chunk latency p50 | p95 | added per chunk |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in PATHS:
        total = statistics.median(totals[name])
        latencies = sorted(chunks[name])
        p50 = statistics.median(latencies)
        p95 = latencies[int(len(latencies) * 0.95)]
        print(f"| {name} | {_ms(total)} | {total / mitm_total:.2f}x | {_ms(p50)} | {_ms(p95)} | "
              f"{_ms(p50 - direct_chunk)} |")
    rec_total = statistics.median(totals["rec record"])
    print(f"\nrec record vs streaming mitmdump: {100 * (rec_total / mitm_total - 1):+.1f}% exchange time "
          f"(target <= +10%); added per chunk vs direct: {_ms(statistics.median(chunks['rec record']) - direct_chunk)}"
          f" (target <= 2 ms); direct exchange {_ms(direct_total)}")
    print(f"the cassette holds {recorded} exchanges "
          f"(expected {ROUNDS * (10 + EXCHANGES_PER_ROUND + PACED_EXCHANGES_PER_ROUND)})")


if __name__ == "__main__":
    main()
