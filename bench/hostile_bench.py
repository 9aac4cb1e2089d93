"""Cassettes built to hurt a reader: peak memory and time of each command on each, against a plain cassette.

A few kilobytes of zstd can describe millions of empty lists or strings, a frame that never says
how large it is, values nested a thousand deep, a 10,000-deep JSON body. Each is refused in one
line (or, for the JSON, shown) within the reader's bounds (docs/cassette-format.md). Beside them,
the bound's other side: bytes that do not compress buy a record room for more values (a bomb
padded so is still refused, at its bound), and a real connection of hours merged into one record
(170,000 frames) reads. Peak RSS comes from each child's own rusage.
Run: .venv/bin/python -m bench hostile_bench
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path

import msgpack
import zstandard

from rec.cassette import Frame, Header, Request, Response, WebSocketExchange, write_cassette

REC = Path(sys.executable).parent / "rec"
GOOD = {"type": "http", "request": {"method": "POST", "path": "/v1/responses", "headers": [], "body": b"{}"},
        "response": {"status": 200, "headers": [["content-type", "text/event-stream"]],
                     "chunks": [[1.0, b"data: {}\n\n"]]}, "end": {"state": "completed"}}


def frame(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=True).compress(payload)


def unsized_zeros(size: int) -> bytes:
    """A frame of zeros that does not state its size, compressed piece by piece (this process stays small: a
    child's peak RSS counts what it was forked from)."""
    compressor = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    piece = b"\0" * (1024 * 1024)
    return b"".join(compressor.compress(piece) for _ in range(size // len(piece))) + compressor.flush()


def with_field(value: bytes) -> bytes:
    """GOOD's msgpack with one more field whose value is these msgpack bytes."""
    return msgpack.packb({**GOOD, "x": None}, use_bin_type=True)[:-1] + value


def array(count: int, item: bytes) -> bytes:
    return b"\xdd" + count.to_bytes(4, "big") + item * count


def padded(value: bytes, noise: int) -> bytes:
    """GOOD's msgpack with ``noise`` random bytes in a field `pad` (they do not compress) and these msgpack bytes
    in a field `x`."""
    head = msgpack.packb({**GOOD, "pad": None, "x": None}, use_bin_type=True)
    return (head[:-len(b"\xc0\xa1x\xc0")] + msgpack.packb(random.Random(0).randbytes(noise), use_bin_type=True)
            + b"\xa1x" + value)


def long_connection(path: Path, frames: int) -> None:
    """A WebSocket connection of hours as one record (a recording appended to a cassette merges its turns): a text
    delta per frame at the irregular times a model streams."""
    rng = random.Random(frames)
    at, sent = 0.0, []
    for n in range(frames):
        at += rng.uniform(5.0, 40.0)
        delta = (f'{{"type":"response.output_text.delta","sequence_number":{n},"item_id":"msg_1","output_index":0,'
                 f'"delta":" word{rng.randrange(30)}","obfuscation":"{rng.getrandbits(40):x}"}}')
        sent.append(Frame(round(at, 3), False, True, delta.encode()))
    write_cassette(path, Header(), [WebSocketExchange(Request("GET", "/v1/responses"), Response(101), frames=sent)])


def cassettes(folder: Path) -> dict[str, Path]:
    header = frame(msgpack.packb(Header().to_record(), use_bin_type=True))
    deep = b"[" * 10_000 + b"]" * 10_000
    records = {
        "plain (the peer)": frame(msgpack.packb(GOOD, use_bin_type=True)),
        "16M empty lists": frame(with_field(array(16 * 1024 * 1024, b"\x90"))),
        "4096 x 4096 empty maps": frame(with_field(array(4096, array(4096, b"\x80")))),
        "4096 x 4096 two-letter strings": frame(with_field(array(4096, array(4096, b"\xa2ab")))),
        "400 MB frame, size not stated": unsized_zeros(400 * 1024 * 1024),
        "4096 x 4096 empty maps beside 1 MB of noise": frame(padded(array(4096, array(4096, b"\x80")), 1_000_000)),
        "lists 1,000 deep": frame(with_field(b"\x91" * 1000 + b"\xc0")),
        "10,000-deep JSON body and event": frame(msgpack.packb(
            {**GOOD, "request": {**GOOD["request"], "body": deep},
             "response": {**GOOD["response"], "chunks": [[1.0, b"data: " + deep + b"\n\n"]]}}, use_bin_type=True)),
    }
    paths = {}
    for n, (name, record) in enumerate(records.items()):
        paths[name] = folder / f"{n}.mpk"
        paths[name].write_bytes(header + record)
    paths["a connection of 170,000 frames in one record"] = folder / "long.mpk"
    long_connection(paths["a connection of 170,000 frames in one record"], 170_000)
    return paths


# Run from a small process of its own: a child's peak RSS counts the memory of what it was forked from, and
# this one holds the cassettes it built.
_MEASURE = """
import os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - started, usage.ru_maxrss // 1024)
"""


def measure(command: list[str]) -> tuple[int, float, int]:
    """Exit code, seconds, peak RSS in MiB of one command."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True, check=True)
    code, seconds, mib = result.stdout.split()
    return int(code), float(seconds), int(mib)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-hostile-") as tmp:
        paths = cassettes(Path(tmp))
        plain = paths["plain (the peer)"]
        commands = {"show": ["show"], "show --json": ["show", "--json"], "check": ["check"],
                    "diff with the plain": ["diff", str(plain)]}
        print(f"{'cassette':<46} {'bytes':>8}  " + "  ".join(f"{name:>24}" for name in commands))
        for name, path in paths.items():
            cells = []
            for args in commands.values():
                code, seconds, mib = measure([str(REC), *args, str(path)])
                cells.append(f"exit {code} {seconds:5.2f} s {mib:4d} MiB")
            print(f"{name:<46} {path.stat().st_size:>8}  " + "  ".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()
