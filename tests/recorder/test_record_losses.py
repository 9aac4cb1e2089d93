"""No exchange is lost without a loud error: a disk that refuses a write, a hook that fails, a record too big.

Each loss is one `rec record:` line naming the exchange and its cause, counted in the
summary, and the exit status is 1; the file stays readable up to the last whole exchange.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rec.cassette import (
    CassetteReader,
    CassetteWriter,
    End,
    Header,
    HttpExchange,
    RecordTooLargeError,
    Request,
    Response,
    load_cassette,
)
from tests.recorder.support import REC
from tests.support.upstream import running_upstream

# Room for the header and a few exchanges, not for eight.
FILE_LIMIT = 9000


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(f"{url}/responses", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def record_with(upstream_url: str, output: Path, bodies: list[bytes], *extra: str,
                file_limit: int | None = None) -> tuple[int, str]:
    """Run `rec record` (under a file size limit, as `ulimit -f` sets one), send the bodies, stop it."""

    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    process = subprocess.Popen([str(REC), "record", "--upstream", upstream_url, "-o", str(output), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        for body in bodies:
            post(url, body)
    finally:
        process.send_signal(2)
        _, err = process.communicate(timeout=30)
    return process.returncode, err


def prompt(number: int) -> bytes:
    # Incompressible text, so each exchange takes its own room on disk.
    return json.dumps({"model": "gpt-test", "input": os.urandom(900).hex() + f" #{number}"}).encode()


@pytest.mark.slow
def test_a_disk_that_refuses_writes_loses_exchanges_loudly_and_the_file_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "full.mpk"
    with running_upstream() as upstream:
        rc, err = record_with(upstream.url, path, [prompt(n) for n in range(8)], file_limit=FILE_LIMIT)
    lost = [line for line in err.splitlines() if line.startswith("rec record: lost POST /v1/responses: ")]
    assert lost and all("the disk refused the write: File too large" in line for line in lost), err
    cassette = load_cassette(path)
    assert cassette.damage is None
    kept = len(cassette.exchanges)
    assert kept >= 1 and kept + len(lost) == 8
    assert f"recorded {kept} exchange(s) (0 WebSocket, 0 failed), lost {len(lost)} into" in err
    assert rc == 1 and "Traceback" not in err and "Addon error" not in err


@pytest.mark.slow
def test_an_exception_in_a_hook_loses_that_exchange_loudly_and_the_others_are_kept(tmp_path: Path) -> None:
    deep = ('{"model": "gpt-test", "metadata": ' + "[" * 10_000 + "]" * 10_000 + "}").encode()
    path = tmp_path / "deep.mpk"
    with running_upstream() as upstream:
        rc, err = record_with(upstream.url, path, [prompt(0), deep, prompt(1)], "--redact", "json:metadata.user")
    [lost] = [line for line in err.splitlines() if "lost" in line and "RecursionError" in line]
    assert lost.startswith("rec record: lost POST /v1/responses: RecursionError: maximum recursion depth")
    assert "recorded 2 exchange(s) (0 WebSocket, 0 failed), lost 1 into" in err
    assert rc == 1 and len(load_cassette(path).exchanges) == 2


def exchange(body: bytes) -> HttpExchange:
    return HttpExchange(request=Request(method="POST", path="/v1/responses", body=b"{}"),
                        response=Response(status=200, chunks=[(0.0, body)]), end=End(state="completed"))


def test_a_record_too_big_for_a_reader_is_refused_and_the_cassette_stays_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.mpk"
    writer = CassetteWriter.create(path, Header())
    writer.max_record_bytes = 64 * 1024
    writer.append(exchange(b"small"))
    with pytest.raises(RecordTooLargeError, match="over the 65536 a cassette reader takes; it was not written"):
        writer.append(exchange(os.urandom(100 * 1024)))
    writer.append(exchange(b"after"))
    writer.close()
    with CassetteReader(path, max_record_bytes=64 * 1024) as reader:
        bodies = [e.response.body for e in reader if isinstance(e, HttpExchange) and e.response]
        assert bodies == [b"small", b"after"] and reader.damage is None


def test_a_torn_write_is_cut_back_so_later_exchanges_stay_readable(tmp_path: Path) -> None:
    """The disk takes part of a frame and refuses the rest (full), then has room again: nothing is hidden."""
    path = tmp_path / "torn.mpk"
    script = f"""
import os, resource
from rec.cassette import CassetteWriter, Header
from tests.recorder.test_record_losses import exchange
writer = CassetteWriter.create({str(path)!r}, Header())
writer.append(exchange(b"first"))
size = os.path.getsize({str(path)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, resource.RLIM_INFINITY))
try:
    writer.append(exchange(os.urandom(4000)))
except OSError as err:
    print("refused:", err.strerror)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
writer.append(exchange(b"third"))
writer.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.stdout.strip() == "refused: File too large", done.stderr
    cassette = load_cassette(path)
    assert [e.response.body for e in cassette.exchanges if isinstance(e, HttpExchange) and e.response] \
        == [b"first", b"third"]
    assert cassette.damage is None
