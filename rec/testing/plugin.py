"""rec's pytest plugin: cassettes as fixtures, in pytest-recording's conventions.

Registered by the ``pytest11`` entry point, so installing rec is enough::

    @pytest.mark.rec(match="body")
    def test_agent(rec_server):
        client = OpenAI()                 # OPENAI_BASE_URL points at rec_server.url
        ...

- ``rec_server``: serves the test's cassettes (by default
  ``cassettes/<module>/<test>.mpk`` next to the test file) and sets ``OPENAI_BASE_URL``.
  At teardown, invariant violations, unmatched requests, unused recorded exchanges and
  streams the client left unread fail the test with the replayer's messages.
- ``--rec-mode``: ``replay`` (default; a missing cassette is an error), ``record`` (the
  requests go through ``rec record`` to ``--rec-upstream`` and the cassette is rewritten),
  ``auto`` (replay when the cassette exists, record otherwise).
- ``rec_mock``: a mock server for the mount API (``rec.testing.mock``), verified at teardown.

Replaying never imports mitmproxy; recording runs ``rec record`` as a child process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import pytest

from rec.testing.mock import MockServer, start_mock_server
from replayer.outcome import PYTEST, event_line
from replayer.request_log import RequestLog
from replayer.server import ReplayServer

Mode = Literal["replay", "record", "auto"]
MODES: tuple[Mode, ...] = ("replay", "record", "auto")
DEFAULT_UPSTREAM = "https://api.openai.com"
MARKER_HELP = ("rec(*cassettes, match='sequence'|'body', timing='none'|'recorded'|'scale:F', ignore=(), "
               "repeat=False, allow_unused=False, allow_unconsumed=False, validate=True, fault=()): "
               "the cassettes rec_server serves "
               "(default cassettes/<module>/<test>.mpk) and how")
RECORDER_START_TIMEOUT_S = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rec", "rec: record/replay of the OpenAI Responses API")
    group.addoption("--rec-mode", choices=MODES, default=None,
                    help="replay (default): serve cassettes, a missing one is an error; record: record every "
                         "rec_server test through `rec record` to --rec-upstream; auto: replay when the "
                         "cassette exists, record otherwise. Also REC_MODE.")
    group.addoption("--rec-upstream", default=None,
                    help=f"Origin recorded from in record/auto mode (default REC_UPSTREAM or {DEFAULT_UPSTREAM}).")
    parser.addini("rec_cassette_dir", "Folder of cassettes, relative to each test file (default: cassettes).",
                  default="cassettes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    mode = config.getoption("--rec-mode") or os.environ.get("REC_MODE") or "replay"
    if mode not in MODES:
        raise pytest.UsageError(f"REC_MODE={mode!r} is not one of {', '.join(MODES)}")


def _mode(config: pytest.Config) -> Mode:
    mode = config.getoption("--rec-mode") or os.environ.get("REC_MODE") or "replay"
    assert mode in MODES  # checked in pytest_configure
    return mode  # type: ignore[return-value]


def _safe_name(name: str) -> str:
    """A test's node name as a file name: parametrize ids keep their text, odd characters become _."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "test"


@dataclass
class RecOptions:
    """What ``@pytest.mark.rec`` asked for."""

    cassettes: list[str] = field(default_factory=list)
    match: str = "sequence"
    timing: str = "none"
    ignore: Sequence[str] = ()
    repeat: bool = False
    allow_unused: bool = False
    allow_unconsumed: bool = False
    validate: bool = True
    fault: Sequence[str] | str = ()

    @classmethod
    def of(cls, node: pytest.Item) -> RecOptions:
        marker = node.get_closest_marker("rec")
        if marker is None:
            return cls()
        try:
            options = cls(cassettes=[os.fspath(c) for c in marker.args], **marker.kwargs)
        except TypeError as err:
            raise pytest.UsageError(f"@pytest.mark.rec on {node.nodeid}: {err}") from None
        return options


@dataclass
class RecSession:
    """What ``rec_server`` gives a test: the base URL to use, and in replay mode the server."""

    mode: Literal["replay", "record"]
    url: str
    cassettes: list[Path]
    server: ReplayServer | None = None

    @property
    def log(self) -> RequestLog:
        """The requests served (replay mode), with the harness's helpers."""
        if self.server is None:
            raise RuntimeError("rec_server.log exists when replaying; this test is recording")
        return self.server.log


@pytest.fixture
def rec_mode(request: pytest.FixtureRequest) -> Mode:
    """The --rec-mode in effect (replay, record or auto)."""
    return _mode(request.config)


@pytest.fixture
def rec_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where this test's cassettes live; override the fixture to move them (as with pytest-recording)."""
    folder = request.config.getini("rec_cassette_dir")
    return Path(request.node.path).parent / folder / request.node.path.stem


@pytest.fixture
def rec_cassette_paths(request: pytest.FixtureRequest, rec_cassette_dir: Path) -> list[Path]:
    """The cassettes for this test: the marker's (relative to rec_cassette_dir), else <test>.mpk."""
    named = RecOptions.of(request.node).cassettes
    if not named:
        prefix = f"{request.cls.__name__}." if request.cls is not None else ""
        named = [f"{prefix}{_safe_name(request.node.name)}.mpk"]
    return [Path(name) if Path(name).is_absolute() else rec_cassette_dir / name for name in named]


@pytest.fixture
def rec_server(request: pytest.FixtureRequest, rec_mode: Mode, rec_cassette_paths: list[Path],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[RecSession]:
    """A replayer serving this test's cassettes, or in record mode a recorder writing them."""
    options = RecOptions.of(request.node)
    missing = [path for path in rec_cassette_paths if not path.is_file()]
    recording = rec_mode == "record" or (rec_mode == "auto" and bool(missing))
    if recording:
        upstream = request.config.getoption("--rec-upstream") or os.environ.get("REC_UPSTREAM") or DEFAULT_UPSTREAM
        with _Recording(rec_cassette_paths[0], upstream) as url:
            monkeypatch.setenv("OPENAI_BASE_URL", url)
            yield RecSession("record", url, rec_cassette_paths[:1])
        return
    if missing:
        pytest.fail(f"rec: no cassette {missing[0]}; record it with --rec-mode=record (or auto) "
                    "and a real upstream (--rec-upstream, OPENAI_API_KEY)", pytrace=False)
    server = _replay_server(rec_cassette_paths, options)
    if not os.environ.get("OPENAI_API_KEY"):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-rec-replay")  # the SDK insists on one; nothing checks it
    with server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)  # the port is known once it listens
        yield RecSession("replay", server.url, rec_cassette_paths, server)
    problems = replay_problems(server, options)
    if problems:
        pytest.fail("rec: " + "\n  ".join(problems), pytrace=False)


def _replay_server(paths: list[Path], options: RecOptions) -> ReplayServer:
    from rec.cassette import CassetteError
    from rec.config import ConfigError, load_normalizer

    try:
        normalizer = load_normalizer(options.ignore)
        faults = [options.fault] if isinstance(options.fault, str) else options.fault
        server = ReplayServer.from_cassettes(paths, timing=options.timing, match=options.match,  # type: ignore[arg-type]
                                             repeat=options.repeat, normalizer=normalizer, validate=options.validate,
                                             faults=faults)
    except (CassetteError, ConfigError, ValueError) as err:
        pytest.fail(f"rec: {err}", pytrace=False)
    for warning in server.warnings:
        sys.stderr.write(f"rec: warning: {warning}\n")
    return server


def replay_problems(server: ReplayServer, options: RecOptions) -> list[str]:
    """The replayer's messages that fail a test: violations, unmatched, and unless allowed, unused and unconsumed."""
    policy = replace(PYTEST, unused=not options.allow_unused, unconsumed=not options.allow_unconsumed, drift=False)
    return [event_line(event) for event in policy.failures(server.report.events)]


class _Recording:
    """`rec record` as a child process writing next to the cassette, renamed into place when it stops.

    Its output goes to files, not pipes: it prints a line per exchange, and a pipe nobody
    reads would fill and stall a long recording.
    """

    def __init__(self, cassette: Path, upstream: str) -> None:
        self.cassette = cassette
        self.partial = cassette.with_name(cassette.name + ".partial")
        self.upstream = upstream
        self.process: subprocess.Popen[bytes] | None = None
        self.output = tempfile.TemporaryDirectory(prefix="rec-record-")
        self.stdout = Path(self.output.name) / "stdout"
        self.stderr = Path(self.output.name) / "stderr"

    def __enter__(self) -> str:
        try:
            import recorder.proxy  # noqa: F401  (fails fast when mitmproxy is missing)
        except ImportError as err:
            pytest.fail(f"rec: --rec-mode=record needs the recorder: pip install 'responses-rec[record]' ({err})",
                        pytrace=False)
        self.cassette.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "rec", "record", "--upstream", self.upstream, "-o", str(self.partial)]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(command, stdout=out, stderr=err,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = self._first_line()
        if not url.startswith("http://"):
            self._stop()
            errors = self._errors()
            self.output.cleanup()
            pytest.fail(f"rec: the recorder did not start: {errors}", pytrace=False)
        return url

    def _first_line(self) -> str:
        """The base URL the recorder prints first ("" if it exits or times out before)."""
        assert self.process is not None
        deadline = time.monotonic() + RECORDER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.stdout.read_text(errors="replace")
            if "\n" in text:
                return text.partition("\n")[0].strip()
            if self.process.poll() is not None:
                return ""
            time.sleep(0.02)
        return ""

    def _errors(self) -> str:
        return self.stderr.read_text(errors="replace").strip()

    def _stop(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=RECORDER_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self.partial.is_file():
            os.replace(self.partial, self.cassette)
        assert self.process is not None
        errors = self._errors()
        self.output.cleanup()
        if self.process.returncode != 0:
            pytest.fail(f"rec: the recorder failed (exit {self.process.returncode}): {errors}", pytrace=False)


@pytest.fixture
def rec_mock() -> Iterator[MockServer]:
    """A mock Responses server for the mount API; a violation, unmatched request or unmet count fails the test."""
    server = start_mock_server()
    yield server
    server.close(verify=False)
    try:
        server.verify()
    except AssertionError as err:
        pytest.fail(str(err), pytrace=False)
