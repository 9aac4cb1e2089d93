"""`rec record` as a real subprocess, for the recording tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REC = Path(sys.executable).parent / "rec"


@dataclass
class Recorder:
    """A running `rec record` process; ``stop()`` sends SIGINT and returns (rc, stdout, stderr)."""

    process: subprocess.Popen[str]
    url: str
    output: Path | None  # None: `--routes`, where each recording names its own

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


def start_recorder(upstream_url: str, output: Path, *extra: str) -> Recorder:
    process = subprocess.Popen([str(REC), "record", "--upstream", upstream_url, "-o", str(output), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"rec record did not start: {err}")
    return Recorder(process, url, output)


@contextmanager
def recording(upstream_url: str, output: Path, *extra: str) -> Iterator[Recorder]:
    """`rec record` for a ``with`` block: stopped with SIGINT at the end, killed if a test failed before."""
    recorder = start_recorder(upstream_url, output, *extra)
    try:
        yield recorder
    finally:
        if recorder.process.poll() is None:
            recorder.stop()


ROUTES_SECRET = "routes-test-secret"


@contextmanager
def routed_recorder(upstream_url: str) -> Iterator[Recorder]:
    """`rec record --routes` (control secret ROUTES_SECRET) for a ``with`` block, its ``url`` the origin of the
    control API and of every recording's prefix; stopped with SIGINT at the end if the block did not stop it."""
    process = subprocess.Popen([str(REC), "record", "--upstream", upstream_url, "--routes"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "REC_RECORDER_SECRET": ROUTES_SECRET, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    recorder = Recorder(process, process.stdout.readline().strip(), None)
    try:
        yield recorder
    finally:
        if process.poll() is None:
            recorder.stop()


def control(origin: str, method: str, path: str, body: Any = None, secret: str = ROUTES_SECRET) -> tuple[int, Any]:
    """A request to a routed recorder's control API: (status, JSON answer)."""
    request = urllib.request.Request(f"{origin}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"x-rec-recorder-secret": secret, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def on_disk(path: Path) -> str:
    """Everything a cassette holds, decompressed, as `rec show --json` prints it (and the raw file)."""
    shown = subprocess.run([str(REC), "show", "--json", str(path)], capture_output=True, text=True, check=True)
    return shown.stdout + path.read_bytes().decode("latin-1")


def records_on_disk(path: Path) -> bytes:
    """Every record of a cassette as stored (each zstd frame inflated, before any parsing), joined."""
    import zstandard

    data = path.read_bytes()
    records: list[bytes] = []
    decompressor = zstandard.ZstdDecompressor()
    while data:
        inflater = decompressor.decompressobj()
        records.append(inflater.decompress(data))
        data = inflater.unused_data
        if len(records) == 2:  # the first record after the header is every later frame's dictionary
            dictionary = zstandard.ZstdCompressionDict(records[1], dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
    return b"".join(records)
