"""Replay throughput and latency: `rec replay` against its peers under wrk, plus start and load times.

One exchange for all servers: a ~2 KB POST /v1/responses answered by a 20-event SSE
stream. Peers, in the same run: a bare aiohttp app returning the same bytes (on uvloop,
like the replayer), nginx `return 200` of them, and `mitmdump --server-replay` of the
same exchange. Each server is pinned to core 0 and wrk to core 1; the servers are measured in turn,
round after round, and each ratio is the median of the rounds' ratios. Run on demand:
`.venv/bin/python -m bench replay_bench` (needs wrk; nginx is skipped when absent).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DURATION_S = 4
CONNECTIONS = 32
ROUNDS = 3
SERVER_CORE, CLIENT_CORE = "0", "1"


def _events(count: int = 20) -> list[dict[str, Any]]:
    text = "The quick brown fox jumps over the lazy dog. "
    events: list[dict[str, Any]] = [{"type": "response.created", "sequence_number": 0,
                                     "response": {"id": "resp_bench", "object": "response", "status": "in_progress",
                                                  "model": "gpt-bench", "output": []}}]
    for i in range(1, count - 1):
        events.append({"type": "response.output_text.delta", "sequence_number": i, "item_id": "msg_bench",
                       "output_index": 0, "content_index": 0, "delta": text[i % 7:] + str(i)})
    events.append({"type": "response.completed", "sequence_number": count - 1,
                   "response": {"id": "resp_bench", "object": "response", "status": "completed",
                                "model": "gpt-bench", "output": []}})
    return events


def sse_body() -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in _events())


def request_body() -> bytes:
    """A ~2 KB Responses request: instructions, a user message, one tool."""
    body = {
        "model": "gpt-bench", "stream": True, "store": False,
        "instructions": "You are a careful assistant. " * 20,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "word " * 220}]}],
        "tools": [{"type": "function", "name": "exec_command", "description": "Run a command.",
                   "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
    }
    return json.dumps(body).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on port {port}")


def pinned(command: list[str], core: str) -> list[str]:
    return ["taskset", "-c", core, *command]


# --- the servers ---------------------------------------------------------------------------


def write_cassette(folder: Path, body: bytes, sse: bytes, copies: int = 1) -> Path:
    sys.path.insert(0, str(ROOT))
    from rec.cassette import End, Header, HttpExchange, Request, Response, write_cassette

    def exchange(raw: bytes) -> HttpExchange:
        return HttpExchange(
            request=Request(method="POST", path="/v1/responses", headers=[("content-type", "application/json")],
                            body=raw),
            response=Response(status=200, reason="OK", headers=[("content-type", "text/event-stream")],
                              chunks=[(float(i), chunk + b"\n\n") for i, chunk in enumerate(sse.split(b"\n\n")[:-1])]),
            end=End(at_ms=20.0))

    path = folder / f"bench-{copies}.mpk"
    if copies == 1:
        exchanges = [exchange(body)]
    else:
        exchanges = [exchange(body.replace(b"gpt-bench", f"gpt-bench-{i}".encode())) for i in range(copies)]
    write_cassette(path, Header(upstream="https://api.openai.com"), exchanges)
    return path


def start_replay(folder: Path, body: bytes, sse: bytes) -> tuple[subprocess.Popen[bytes], int]:
    cassette = write_cassette(folder, body, sse)
    process = subprocess.Popen(pinned([PYTHON, "-m", "rec", "replay", str(cassette), "--repeat", "--quiet"],
                                      SERVER_CORE), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    return process, int(url.rsplit(":", 1)[1].split("/")[0])


AIOHTTP_APP = """
import sys, uvloop
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def answer(request):
    await request.read()
    return web.Response(body=body, content_type="text/event-stream")
app = web.Application()
app.router.add_post("/v1/responses", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=uvloop.new_event_loop())
"""


def start_aiohttp(folder: Path, body: bytes, sse: bytes) -> tuple[subprocess.Popen[bytes], int]:
    payload = folder / "sse.bin"
    payload.write_bytes(sse)
    port = free_port()
    process = subprocess.Popen(pinned([PYTHON, "-c", AIOHTTP_APP, str(port), str(payload)], SERVER_CORE),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process, port


def start_nginx(folder: Path, body: bytes, sse: bytes) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    # nginx caps one config parameter near 4 KB: set the body in pieces and return them joined.
    text = sse.decode().replace("\\", "\\\\").replace("'", "\\'")
    pieces = [text[i:i + 2000] for i in range(0, len(text), 2000)]
    sets = "\n".join(f"            set $part{i} '{piece}';" for i, piece in enumerate(pieces))
    joined = "".join(f"$part{i}" for i in range(len(pieces)))
    (folder / "logs").mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/event-stream;
{sets}
            return 200 "{joined}";
        }}
    }}
}}
""")
    process = subprocess.Popen(pinned(["nginx", "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                                      SERVER_CORE), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process, port


def start_mitmdump(folder: Path, body: bytes, sse: bytes) -> tuple[subprocess.Popen[bytes], int]:
    from mitmproxy import connection, http, io

    flows = folder / "flows.mitm"
    request = http.Request.make("POST", "http://127.0.0.1:9/v1/responses", body,
                                {"content-type": "application/json", "host": "127.0.0.1:9"})
    flow = http.HTTPFlow(connection.Client(peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2), timestamp_start=0),
                         connection.Server(address=("127.0.0.1", 9)))
    flow.request = request
    flow.response = http.Response.make(200, sse, {"content-type": "text/event-stream"})
    with open(flows, "wb") as stream:
        io.FlowWriter(stream).add(flow)
    port = free_port()
    mitmdump = str(Path(PYTHON).with_name("mitmdump"))
    process = subprocess.Popen(pinned([mitmdump, "-q", "--listen-host", "127.0.0.1", "-p", str(port),
                                       "--mode", "reverse:http://127.0.0.1:9", "--server-replay", str(flows),
                                       "--server-replay-reuse", "--server-replay-extra", "404",
                                       "--set", "server_replay_ignore_host=true",
                                       "--set", "server_replay_refresh=false",
                                       # no upstream runs: never connect to it before a request
                                       "--set", "connection_strategy=lazy"], SERVER_CORE),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return process, port


# --- measuring -----------------------------------------------------------------------------


def wrk(port: int, script: Path, connections: int, duration: int, path: str = "/v1/responses") -> dict[str, float]:
    """Requests per second, p50 latency (ms) and the non-2xx count of one wrk run."""
    output = subprocess.run(pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
                                    f"http://127.0.0.1:{port}{path}"], CLIENT_CORE),
                            capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", output)
    assert p50 is not None, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p50_ms": float(p50.group(1)) * scale, "non_2xx": float(bad.group(1)) if bad else 0.0}


def check_answer(port: int, body: bytes, sse: bytes) -> None:
    """Each server must answer the request with the SSE bytes before it is measured."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"response.completed" in answer, answer[:200]


def start_to_listening(cassette: Path, runs: int = 7) -> float:
    """Median seconds from spawning `rec replay` to its URL line (it prints it once listening)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen([PYTHON, "-m", "rec", "replay", str(cassette), "--quiet"], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None
        process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.terminate()
        process.wait()
    return statistics.median(times)


def load_time(cassette: Path, match: str, runs: int = 3) -> float:
    """Median CPU seconds for ReplayServer.from_cassettes (read, decode, compile) in a fresh process, imports
    included."""
    script = (f"import time; t = time.process_time(); from replayer.server import ReplayServer; "
              f"s = ReplayServer.from_cassettes([{str(cassette)!r}], match={match!r}); "
              f"print(time.process_time() - t, len(s.matcher.recorded))")
    times = []
    for _ in range(runs):
        out = subprocess.run([PYTHON, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        seconds, count = out.split()
        assert int(count) == 10_000
        times.append(float(seconds))
    return statistics.median(times)


def main() -> None:
    body, sse = request_body(), sse_body()
    with tempfile.TemporaryDirectory(prefix="rec-bench-") as tmp:
        folder = Path(tmp)
        if shutil.which("wrk") is None:
            print("replay_bench: wrk is not installed (apt-get install wrk): no throughput table")
        else:
            throughput(folder, body, sse)
        small = write_cassette(folder, body, sse)
        big = write_cassette(folder, body, sse, copies=10_000)
        start_s = start_to_listening(small)
        load_sequence = load_time(big, "sequence")
        load_body = load_time(big, "body")
    print(f"\nstart to listening (median of 7): {start_s * 1000:.0f} ms")
    print(f"10,000-exchange cassette loaded (median of 3, CPU): {load_sequence:.2f} s with --match sequence, "
          f"{load_body:.2f} s with --match body")


def throughput(folder: Path, body: bytes, sse: bytes) -> None:
    """The wrk table: rec replay and its peers, all started once, then measured round by round in turn."""
    servers: list[tuple[str, Callable[..., tuple[subprocess.Popen[bytes], int]]]] = [
        ("rec replay (validation on)", start_replay),
        ("aiohttp (bare app, uvloop)", start_aiohttp),
    ]
    if shutil.which("nginx"):
        servers.append(("nginx return 200", start_nginx))
    servers.append(("mitmdump --server-replay", start_mitmdump))
    print(f"request {len(body)} B, answer 20 SSE events / {len(sse)} B; wrk -t1 -c{CONNECTIONS} -d{DURATION_S}s "
          f"on core {CLIENT_CORE}, server on core {SERVER_CORE}, {ROUNDS} interleaved rounds")
    script = folder / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body.decode())}\n")
    running: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in servers}
    try:
        for name, start in servers:
            workdir = folder / re.sub(r"\W+", "-", name)
            workdir.mkdir()
            running[name] = start(workdir, body, sse)
            check_answer(running[name][1], body, sse)
        # Each round runs every server in turn, so a change in the machine's load falls on all of them.
        for _ in range(ROUNDS):
            for name, (_, port) in running.items():
                load = wrk(port, script, CONNECTIONS, DURATION_S)
                one = wrk(port, script, 1, max(2, DURATION_S // 2))
                rounds[name].append({"rps": load["rps"], "p50_ms": one["p50_ms"], "non_2xx": load["non_2xx"]})
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait(timeout=10)
    base = rounds["rec replay (validation on)"]
    print(f"\n| server | req/s (c={CONNECTIONS}) | rec replay is | p50 at c=1 |")
    print("| --- | ---: | ---: | ---: |")
    for name, results in rounds.items():
        rps = statistics.median(r["rps"] for r in results)
        # The ratio of each round's pair, then their median: a busy moment weighs on both sides of a ratio.
        ratios = [b["rps"] / r["rps"] for b, r in zip(base, results, strict=True)]
        ratio = "—" if results is base else (f"{statistics.median(ratios):.2f}x "
                                            f"({min(ratios):.2f} to {max(ratios):.2f})")
        errors = sum(r["non_2xx"] for r in results)
        shown = f"{rps:,.0f}" + (f" ({int(errors)} non-2xx)" if errors else "")
        print(f"| {name} | {shown} | {ratio} | {statistics.median(r['p50_ms'] for r in results):.3f} ms |")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
