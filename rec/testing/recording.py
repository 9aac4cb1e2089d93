"""Recording for the pytest plugin: `rec record` as a child process, and what becomes of its cassette.

The recorder may live in this environment (`responses-rec[record]`) or be an isolated tool
install (`pipx`/`uv tool`) on PATH; ``recorder_command`` finds it. A finished recording is
kept only when it holds an exchange that reached the upstream: an empty cassette, or one
whose every exchange failed to reach it, would replay a failure forever.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from rec.cassette import CassetteError, CassetteWriter, HttpExchange, WebSocketExchange, load_cassette
from rec.locking import CassetteLock
from replayer.request_log import RequestLog, ResponsesRequest, WebSocketHandshake

START_TIMEOUT_S = 60.0


class RecordingError(Exception):
    """The recorder could not be found, did not start, or failed; the message says what to do."""


def recorder_command(configured: str | None) -> list[str]:
    """How to run `rec`: as configured (--rec-command, rec_command, REC_COMMAND), this environment's, or PATH's."""
    if configured:
        return configured.split()
    if importlib.util.find_spec("mitmproxy") is not None:
        return [sys.executable, "-m", "rec"]
    found = shutil.which("rec")
    if found is None or Path(found).resolve() == (Path(sys.executable).parent / "rec").resolve():
        # On 3.11 the recorder's mitmproxy cannot share an environment with the openai SDK (h11 pins).
        here = ("pip install 'responses-rec[record]' here, or " if sys.version_info >= (3, 12) else "")
        raise RecordingError(f"recording needs the recorder: {here}install it as a tool (pipx install "
                             "'responses-rec[record]') so `rec` is on PATH, or point --rec-command at one")
    return [found]


def request_log_of(cassette: Path) -> RequestLog:
    """The requests a (possibly still growing) cassette holds, as the replayer's RequestLog."""
    log = RequestLog()
    try:
        exchanges = load_cassette(cassette).exchanges if cassette.is_file() else []
    except CassetteError:
        return log
    for exchange in exchanges:
        request = exchange.request if isinstance(exchange, HttpExchange | WebSocketExchange) else None
        if isinstance(exchange, HttpExchange) and request is not None:
            log.add_request(ResponsesRequest(request.method, request.path, request.headers, request.body))
        elif isinstance(exchange, WebSocketExchange) and request is not None:
            connection = log.add_connection(WebSocketHandshake(request.path, request.headers))
            for frame in exchange.frames:
                if frame.from_client:
                    log.add_message(connection, _json_or_null(frame.payload))
    return log


def _json_or_null(payload: bytes) -> bytes:
    """The message as the log keeps it (JSON): as sent, or ``null`` when it is not JSON."""
    import orjson

    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return b"null"
    return payload


def worth_keeping(cassette: Path) -> str | None:
    """None when a recorded cassette holds an exchange that reached the upstream, else why it is not kept."""
    try:
        exchanges = load_cassette(cassette).exchanges
    except CassetteError as err:
        return str(err)
    if not exchanges:
        return "it holds no exchange (the test made no request)"
    unreachable = [e for e in exchanges if isinstance(e, HttpExchange) and e.end.error == "upstream_unreachable"]
    if len(unreachable) == len(exchanges):
        return f"every exchange failed to reach the upstream ({unreachable[0].end.message or 'unreachable'})"
    return None


class Recorder:
    """`rec record --routes` for a whole pytest process: each recording test opens its own recording on it.

    Its stderr goes to a file (read when it fails); its stdout is read, the first line as the URL it
    listens on, the rest to its end. A recording is opened with the cassette
    to write and its redaction rules, answered with the base URL its client uses, and closed when the
    test ends (``recorder.routing``).
    """

    def __init__(self, command: Sequence[str], upstream: str) -> None:
        self.args = [*command, "record", "--upstream", upstream, "--routes"]
        self.secret = secrets.token_hex(16)
        self.output = tempfile.TemporaryDirectory(prefix="rec-record-")
        self.stderr = Path(self.output.name) / "stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.origin = ""

    def open(self, partial: Path, redact: Sequence[str]) -> tuple[str, str]:
        """Start recording into ``partial``: the recording's id and the base URL its client uses."""
        partial.parent.mkdir(parents=True, exist_ok=True)
        answer = self._control("POST", "", {"output": str(partial.resolve()), "redact": list(redact)})
        return answer["id"], answer["base_url"]

    def close_recording(self, recording_id: str) -> None:
        """Close a recording once its client's exchanges are written."""
        self._control("DELETE", f"/{recording_id}", None)

    def _control(self, method: str, path: str, body: Any) -> Any:
        request = urllib.request.Request(f"{self.origin}/__rec/recordings{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"x-rec-recorder-secret": self.secret,
                                                  "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=START_TIMEOUT_S) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise RecordingError(f"the recorder refused: {err.read().decode(errors='replace')[:500]}") from None
        except OSError as err:
            raise RecordingError(f"the recorder is gone ({err}): {self.errors() or 'no output'}") from None

    def start(self) -> None:
        """Start the recorder; RecordingError when it does not start."""
        with self.stderr.open("wb") as err:
            try:
                self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=err,
                                                env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                     "REC_RECORDER_SECRET": self.secret})
            except OSError as error:
                raise RecordingError(f"cannot run {self.args[0]}: {error.strerror}") from None
        origin = self._first_line()
        if not origin.startswith("http://"):
            self.stop()
            raise RecordingError(f"the recorder did not start: {self.errors() or 'no output'}")
        self.origin = origin

    def _first_line(self) -> str:
        """The recorder's first line on stdout, its URL, read the moment it is written (it prints it once it
        listens); "" when it exits first or says nothing for START_TIMEOUT_S. The rest of stdout is read to its
        end on a thread of its own, so the pipe never fills."""
        assert self.process is not None and self.process.stdout is not None
        pipe = self.process.stdout
        received = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as selector:
            selector.register(pipe, selectors.EVENT_READ)
            while b"\n" not in received:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    pipe.close()
                    return ""
                chunk = os.read(pipe.fileno(), 4096)
                if not chunk:  # it exited
                    pipe.close()
                    return ""
                received += chunk
        threading.Thread(target=_read_to_the_end, args=(pipe,), name="rec-recorder-stdout", daemon=True).start()
        return received.partition(b"\n")[0].decode(errors="replace").strip()

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace").strip()

    def stop(self) -> int:
        """Stop the recorder (as Ctrl-C does, so it writes everything) and return its exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        self.output.cleanup()


def _read_to_the_end(pipe: IO[bytes]) -> None:
    with pipe:
        while os.read(pipe.fileno(), 65536):
            pass


def keep(partial: Path, cassette: Path, append: bool, run_started: float) -> str | None:
    """Put a finished recording in place; the warning when it is discarded (and the cassette left as it was).

    It is appended to the cassette for new_episodes, and also when the cassette was written since
    ``run_started`` (by another test of this run, perhaps in another process, that shares it);
    otherwise it replaces the cassette. Either happens under the cassette's lock, so writers in
    parallel are each kept, in the order they finish.
    """
    reason = worth_keeping(partial)
    if reason is not None:
        partial.unlink(missing_ok=True)
        return f"{cassette}: the recording was not kept, and the cassette is unchanged: {reason}"
    with CassetteLock(cassette):
        if cassette.is_file() and (append or cassette.stat().st_mtime >= run_started):
            with CassetteWriter.append_to(cassette, locked=True) as writer:
                for exchange in load_cassette(partial).exchanges:
                    writer.append(exchange)
            partial.unlink()
        else:
            os.replace(partial, cassette)
    return None
