"""Replay costs on the paths tests take, as server CPU per request (``cpu_seconds``), peers in the same run.

- first serve: each exchange of a 10k-exchange cassette served once, against one answer repeated; and (`first`)
  Codex-like cassettes of 5k to 100k exchanges, in interleaved runs and in batches alternating between two servers;
- body matching: the same 10k cassette with --match body, requests in shuffled order, against sequence;
- paced: --timing scale:0 (the paced path with nothing to wait for) against --timing none;
- WebSocket turns: 3,000 response.create turns on one connection, against a bare aiohttp (uvloop) server
  sending the same frames per message;
- cassette size: 1,000 Codex-like exchanges, rec's per-exchange frames against one zstd stream of the same records.

Each case runs in interleaved rounds (rec, peer, rec, peer, ...); the ratios and their spread are what to quote.
Run: .venv/bin/python -m bench paths_bench
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import msgpack
import zstandard

from rec.cassette import CassetteReader, CassetteWriter, Header, write_cassette
from rec.synth.scenario import Scenario

PYTHON = sys.executable
ROUNDS = 5


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a process, to the nanosecond: Linux's scheduler clock of a process, the clock id
    clock_getcpuclockid(3) gives for a pid. /proc's utime and stime are counted in ticks of 10 ms, charged to what
    runs when a tick comes: over a round of a few hundred milliseconds at half a CPU, a tenth either way."""
    return time.clock_gettime(((~pid) << 3) | 2)  # CPUCLOCK_SCHED of the whole process


def events(n: int, text: str) -> list[dict]:
    item = {"type": "message", "role": "assistant", "id": f"msg_{n}",
            "content": [{"type": "output_text", "text": text}]}
    words = [{"type": "response.output_text.delta", "item_id": f"msg_{n}", "output_index": 0, "delta": w + " "}
             for w in text.split()]
    return [{"type": "response.created", "response": {"id": f"resp_{n}"}},
            {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
            *words, {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": {"id": f"resp_{n}", "output": [item]}}]


def body(n: int) -> dict:
    return {"model": "gpt-test", "input": f"prompt number {n}", "stream": True}


def http_cassette(path: Path, count: int) -> Path:
    scenario = Scenario()
    for n in range(count):
        scenario.sse_turn(events(n, f"answer {n} with a few more words to stream"), request=body(n))
    scenario.write(path)
    return path


# Codex-like exchanges: the same long instructions and tools every time, and a prompt and an answer of their own
# (words drawn from a fixed vocabulary, so each exchange carries new text as real ones do).
CODEX_WORDS = ("the", "file", "function", "test", "error", "value", "change", "return", "list", "folder", "build",
               "import", "module", "check", "run", "config", "path", "string", "number", "result", "call", "output",
               "input", "line", "read", "write", "open", "close", "start", "stop")
CODEX_INSTRUCTIONS = "You are a coding agent. " * 400
CODEX_TOOLS = [{"type": "function", "name": f"tool_{k}", "description": "does a thing " * 20,
                "parameters": {"type": "object"}} for k in range(12)]


def codex_exchange(n: int) -> tuple[dict, list[dict]]:
    """Exchange ``n`` of a Codex-like cassette: its request body and its answer's events (the same for every n)."""
    rng = random.Random(n)
    prompt = " ".join(rng.choice(CODEX_WORDS) for _ in range(40))
    answer = " ".join(rng.choice(CODEX_WORDS) for _ in range(120))
    return {**body(n), "input": prompt, "instructions": CODEX_INSTRUCTIONS, "tools": CODEX_TOOLS}, events(n, answer)


def codex_request(n: int) -> bytes:
    """Request ``n`` of a Codex-like cassette, byte for byte as recorded."""
    return json.dumps(codex_exchange(n)[0]).encode()


def codex_cassette(path: Path, count: int) -> Path:
    """``count`` Codex-like exchanges (about 1 KB each on disk, 30 KB decoded), written one at a time."""
    writer = CassetteWriter.create(path, Header())
    with writer:
        for n in range(count):
            request, answer = codex_exchange(n)
            writer.append(Scenario().sse_turn(answer, request=request).exchanges[0])
    return path


def ws_cassette(path: Path, turns: int) -> Path:
    scenario = Scenario()
    scenario.websocket([({"type": "response.create", **body(n)}, events(n, f"answer {n} over the socket"))
                        for n in range(turns)], deflate=False)
    scenario.write(path)
    return path


class Server:
    """A server process pinned to core 0, its URL, and its CPU time."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(["taskset", "-c", "0", *command], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip()
        self.host, port = url.removeprefix("http://").split("/")[0].split(":")
        self.port = int(port)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def rec_replay(cassette: Path, *options: str) -> Server:
    return Server([PYTHON, "-m", "rec", "replay", str(cassette), "--quiet", *options])


def post_all(server: Server, bodies: Iterable[bytes]) -> None:
    """Each request on one keep-alive connection, its answer read to the end before the next."""
    with socket.create_connection((server.host, server.port)) as sock:
        for raw in bodies:
            sock.sendall(b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(raw), raw))
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                data += chunk


def per_request(server: Server, work: Callable[[], None], count: int) -> float:
    before = server.cpu()
    work()
    return (server.cpu() - before) / count * 1e6


def interleaved(cases: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, case in cases.items():
            results[name].append(case())
    return results


def show(title: str, results: dict[str, list[float]], base: str, unit: str = "us CPU/request") -> None:
    print(f"\n{title}")
    for name, values in results.items():
        # Each round's figure over its peer's in the same round: the machine's load changes between rounds.
        ratios = [value / peer for value, peer in zip(values, results[base], strict=True)]
        print(f"  {name:<34} {statistics.median(values):8.1f} {unit}  (min {min(values):.1f}, max {max(values):.1f})"
              f"  {statistics.median(ratios):.2f}x {base}")


def http_cases(folder: Path) -> None:
    count = 10_000
    many = http_cassette(folder / "many.mpk", count)
    one = http_cassette(folder / "one.mpk", 1)
    bodies = [json.dumps(body(n)).encode() for n in range(count)]
    shuffled = random.Random(1).sample(bodies, len(bodies))
    same = [bodies[0]] * count

    def serve(cassette: Path, requests: list[bytes], *options: str) -> Callable[[], float]:
        def run() -> float:
            server = rec_replay(cassette, *options)
            try:
                return per_request(server, lambda: post_all(server, requests), len(requests))
            finally:
                server.stop()
        return run

    show("First serve of each exchange (10k cassette) vs one answer repeated", interleaved({
        "repeat (1 exchange, --repeat)": serve(one, same, "--repeat"),
        "first serve, sequence": serve(many, bodies),
    }), "repeat (1 exchange, --repeat)")
    show("Body matching vs sequence (10k cassette, shuffled for body)", interleaved({
        "sequence": serve(many, bodies),
        "body": serve(many, shuffled, "--match", "body"),
    }), "sequence")
    show("Paced with nothing to wait for vs unpaced (one answer repeated)", interleaved({
        "--timing none": serve(one, same, "--repeat"),
        "--timing scale:0": serve(one, same, "--repeat", "--timing", "scale:0"),
    }), "--timing none")


# Below the threshold a cassette is decoded at load (replayer.core.DECODE_AT_LOAD_UP_TO); above it, each first serve
# decodes its exchange from the compressed record.
FIRST_SERVE_SIZES = (5_000, 10_000, 30_000, 100_000)
# Also served as a rec before format 3 wrote it (each chunk a pair): what the format's joined body is worth.
FORMAT_2_SIZE = 10_000


def first_serve_cases(folder: Path, sizes: tuple[int, ...] = FIRST_SERVE_SIZES) -> None:
    """Each exchange of a Codex-like cassette served once, in order, against one Codex-like exchange repeated."""
    one = codex_cassette(folder / "codex-1.mpk", 1)
    cassettes = {count: codex_cassette(folder / f"codex-{count}.mpk", count) for count in sizes}
    same = codex_request(0)

    def serve(cassette: Path, count: int, *options: str) -> Callable[[], float]:
        def run() -> float:
            server = rec_replay(cassette, *options)
            try:
                requests = (same if cassette == one else codex_request(n) for n in range(count))
                return per_request(server, lambda: post_all(server, requests), count)
            finally:
                server.stop()
        return run

    served = [(count, cassette, "") for count, cassette in cassettes.items()]
    if FORMAT_2_SIZE in cassettes:
        older = folder / f"codex-{FORMAT_2_SIZE}-format-2.mpk"
        with CassetteReader(cassettes[FORMAT_2_SIZE]) as reader:
            write_cassette(older, reader.header, reader, version=2)
        served.append((FORMAT_2_SIZE, older, ", format 2"))
    cases = {"one exchange repeated (--repeat)": serve(one, min(sizes), "--repeat")}
    for count, cassette, label in served:
        cases[f"first serves, {count:,} ({cassette.stat().st_size / 2**20:.1f} MiB{label})"] = serve(cassette, count)
    show("First serve of each exchange of a Codex-like cassette vs one answer repeated", interleaved(cases),
         "one exchange repeated (--repeat)")
    print("\nThe same, both servers up at once, batches of requests alternating between them")
    for count, cassette, label in served:
        first_serves_in_batches(one, cassette, count, label)


def first_serves_in_batches(one: Path, cassette: Path, count: int, label: str = "", batch: int = 250) -> None:
    """Each exchange of ``cassette`` served once, in batches that alternate with batches of the repeated answer on a
    server of its own: the two are measured a few hundred milliseconds apart, so a change in the machine's load
    falls on both. The ratio is the median of the batch pairs' ratios, with its quartiles."""
    repeated, first = rec_replay(one, "--repeat"), rec_replay(cassette)
    same = codex_request(0)
    try:
        post_all(repeated, [same])  # the repeated answer's own first serve
        pairs = []
        for k, start in enumerate(range(0, count, batch)):
            bodies = [codex_request(n) for n in range(start, min(start + batch, count))]
            work = [(first, bodies), (repeated, [same] * len(bodies))]
            per_request = {}
            for server, requests in (work if k % 2 else work[::-1]):
                before = server.cpu()
                post_all(server, requests)
                per_request[server] = (server.cpu() - before) / len(requests) * 1e6
            pairs.append((per_request[first], per_request[repeated]))
    finally:
        repeated.stop()
        first.stop()
    ratios = sorted(served / peer for served, peer in pairs)
    quartile = len(ratios) // 4
    print(f"  {count:>6,} exchanges{label}: first serve {statistics.median(p[0] for p in pairs):6.1f} us, repeat "
          f"{statistics.median(p[1] for p in pairs):6.1f} us CPU/request  {statistics.median(ratios):.2f}x "
          f"(quartiles {ratios[quartile]:.2f} to {ratios[-1 - quartile]:.2f}, {len(ratios)} pairs of {batch})")


AIOHTTP_PEER = '''
import asyncio, json, sys
from aiohttp import web
import uvloop
frames = json.load(open(sys.argv[1]))
async def handle(request):
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    turn = 0
    async for message in ws:
        for frame in frames[turn % len(frames)]:
            await ws.send_str(frame)
        turn += 1
    return ws
async def main():
    app = web.Application(); app.router.add_get("/v1/responses", handle)
    runner = web.AppRunner(app); await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0); await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
'''


def ws_turns(server: Server, count: int) -> None:
    """One connection, ``count`` response.create turns, each read to its response.completed."""
    import base64

    with socket.create_connection((server.host, server.port)) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(f"GET /v1/responses HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                     f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n\r\n".encode())
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(4096)
        buffer = buffer.split(b"\r\n\r\n", 1)[1]
        for n in range(count):
            payload = json.dumps({"type": "response.create", **body(n)}).encode()
            length = bytes((0x80 | len(payload),)) if len(payload) < 126 else bytes((0x80 | 126,)) + len(
                payload).to_bytes(2, "big")  # the shortest length encoding, as RFC 6455 requires
            sock.sendall(b"\x81" + length + b"\0\0\0\0" + payload)
            while b"response.completed" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the WebSocket")
                buffer += chunk
            buffer = buffer.split(b"response.completed", 1)[1]


def ws_cases(folder: Path) -> None:
    count = 3000
    cassette = ws_cassette(folder / "ws.mpk", count)
    frames = [[json.dumps(e) for e in events(n, f"answer {n} over the socket")] for n in range(count)]
    (folder / "frames.json").write_text(json.dumps(frames))
    (folder / "peer.py").write_text(AIOHTTP_PEER)

    def run(make: Callable[[], Server]) -> Callable[[], float]:
        def case() -> float:
            server = make()
            try:
                return per_request(server, lambda: ws_turns(server, count), count)
            finally:
                server.process.kill()
                server.process.wait()
        return case

    show("WebSocket: 3,000 turns on one connection", interleaved({
        "aiohttp + uvloop, same frames": run(lambda: Server([PYTHON, str(folder / "peer.py"),
                                                             str(folder / "frames.json")])),
        "rec replay": run(lambda: rec_replay(cassette)),
    }), "aiohttp + uvloop, same frames", unit="us CPU/turn")


def size_case(folder: Path) -> None:
    """1,000 Codex-like exchanges: rec's frames (each compressed with the first record as its dictionary) against
    one zstd stream of the same records, and against frames without the dictionary (format 1)."""
    path = codex_cassette(folder / "codex-like.mpk", 1000)
    with CassetteReader(path) as reader:
        exchanges = list(reader)
    records = b"".join(msgpack.packb(e.to_record(), use_bin_type=True) for e in exchanges)
    one_stream = len(zstandard.ZstdCompressor(level=3).compress(records))
    plain = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
    without = sum(len(plain.compress(msgpack.packb(e.to_record(), use_bin_type=True))) for e in exchanges)
    size = path.stat().st_size
    print(f"\nCassette size, 1,000 Codex-like exchanges\n  rec (a zstd frame per exchange) {size:>10,} bytes"
          f"  {size / one_stream:.2f}x one zstd stream\n  one zstd stream of the records  {one_stream:>10,} bytes"
          f"\n  frames without the dictionary   {without:>10,} bytes  {without / one_stream:.2f}x (format 1)")


def main(only: tuple[str, ...] = ("http", "first", "websocket", "size")) -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-") as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        for name, case in (("http", http_cases), ("first", first_serve_cases), ("websocket", ws_cases),
                           ("size", size_case)):
            if name in only:
                case(folder)
        print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("http", "first", "websocket", "size"))
