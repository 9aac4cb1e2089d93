"""rec's pytest plugin: cassettes as fixtures, in pytest-recording's conventions.

Registered by the ``pytest11`` entry point, so installing rec is enough::

    @pytest.mark.rec(match="body")
    def test_agent(rec_server):
        client = OpenAI()                 # OPENAI_BASE_URL points at rec_server.url
        ...

Hooks and fixtures only; the decisions live in ``rec.testing.options`` (what a test asked
for), ``rec.testing.recording`` (the recorder child) and ``replayer.outcome`` (what fails
a test). Every decision is a fixture a user can override: ``rec_config``,
``rec_cassette_dir``, ``rec_cassette_paths``, ``rec_mode``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import shlex
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from rec.testing.assert_rewriting import import_as_installed

import_as_installed()  # before the imports below bring in the rest of rec: see rec.testing.assert_rewriting

from rec.testing.options import MODES, RecOptions, merge_options
from replayer.outcome import PYTEST, event_line, kind_of

if TYPE_CHECKING:
    # The replay core and the recorder's client are imported by the first test that uses them: a pytest process
    # that runs none (an xdist controller, a run of other tests) does not pay for them, as with pytest-recording.
    from rec.normalize import Normalizer
    from rec.testing.mock import MockServer
    from rec.testing.recording import Recorder
    from rec.testing.replaying import HostedReplay, ReplayHost
    from replayer.request_log import RequestLog
    from replayer.serve_client import Session
    from replayer.server import ReplayServer

DEFAULT_UPSTREAM = "https://api.openai.com"
MARKER_HELP = ("rec(*cassettes, match='sequence'|'body', timing='none'|'recorded'|'scale:F', ignore=(), mask=(), "
               "repeat=False, allow_unused=False, allow_unconsumed=False, allow_drift=False, validate=True, "
               "fault=(), redact=(), max_age=None, on_expiry='warn'): the cassettes rec_server serves "
               "(default cassettes/<module>/<test>.mpk) and how")
_SESSION = pytest.StashKey["RecSession"]()
_OPTIONS = pytest.StashKey[RecOptions]()
_DECLARED = pytest.StashKey[set[Path]]()  # the cassettes collected tests use, for --rec-check-orphans
_FOLDERS = pytest.StashKey[set[Path]]()  # the cassette folders of the collected test files
_HOST = pytest.StashKey["ReplayHost"]()  # this process's replay server, each replaying test a session on it
# This process's recorders (one per rec command and upstream), each recording test a recording on one.
_RECORDERS = pytest.StashKey["dict[tuple[tuple[str, ...], str], Recorder]"]()
_SETTINGS = pytest.StashKey["tuple[Path, dict[str, Any]] | None"]()  # the project's settings, read once
_NORMALIZERS = pytest.StashKey["dict[tuple[tuple[str, ...], tuple[str, ...]], Normalizer]"]()
_RUN_STARTED = "REC_RUN_STARTED"


def _run_started() -> float:
    try:
        return float(os.environ[_RUN_STARTED])
    except (KeyError, ValueError):
        return time.time()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rec", "rec: record/replay of the OpenAI Responses API")
    group.addoption("--rec-mode", choices=MODES, default=None,
                    help="none (default): replay only, never the network; once: record a cassette that does not "
                         "exist yet; new_episodes: replay what matches, record and append the rest; all: record "
                         "everything again, replacing; rewrite: delete the cassette first, then record. Also REC_MODE.")
    group.addoption("--rec-upstream", default=None,
                    help=f"Origin recorded from (default REC_UPSTREAM or {DEFAULT_UPSTREAM}).")
    group.addoption("--rec-command", default=None,
                    help="The `rec` that records (default: this environment's if it has the recorder, else the one "
                         "on PATH, e.g. a pipx install). Also REC_COMMAND or the rec_command ini.")
    group.addoption("--rec-serve", default=None, metavar="URL",
                    help="Replay through sessions on a shared `rec serve` at URL (e.g. one for every xdist worker) "
                         "instead of a server per test. Also REC_SERVE_URL.")
    group.addoption("--rec-block-network", action="store_true", default=False,
                    help="Fail a replaying test that connects anywhere but loopback (a client ignoring "
                         "OPENAI_BASE_URL).")
    group.addoption("--rec-check-orphans", action="store_true", default=False,
                    help="At the end, list cassettes under the cassette folders that no collected test uses.")
    parser.addini("rec_cassette_dir", "Folder of cassettes, relative to each test file (default: cassettes).",
                  default="cassettes")
    parser.addini("rec_command", "The `rec` command that records (see --rec-command).", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    # When this run began, for every process of it (xdist workers inherit the environment): a cassette written
    # since then was recorded by another test of this run, and is added to, not replaced.
    os.environ.setdefault(_RUN_STARTED, repr(time.time()))
    mode = config.getoption("--rec-mode") or os.environ.get("REC_MODE") or "none"
    if mode not in MODES:
        raise pytest.UsageError(f"REC_MODE={mode!r} is not one of {', '.join(MODES)}")
    config.stash[_DECLARED] = set()
    config.stash[_FOLDERS] = set()
    config.stash[_RECORDERS] = {}
    config.stash[_NORMALIZERS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    host = config.stash.get(_HOST, None)
    if host is not None:
        host.close()
    for recorder in config.stash.get(_RECORDERS, {}).values():
        recorder.stop()
        recorder.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note which cassettes the collected tests use (default names and marker names), for the orphan check."""
    folder_name = config.getini("rec_cassette_dir")
    for item in items:
        folder = Path(item.path).parent / folder_name
        config.stash[_FOLDERS].add(folder)
        if "rec_server" not in getattr(item, "fixturenames", ()) and item.get_closest_marker("rec") is None:
            continue
        own = folder / Path(item.path).stem
        in_class = f"{item.cls.__name__}." if isinstance(item, pytest.Function) and item.cls else ""
        names = [arg for marker in item.iter_markers("rec") for arg in marker.args][:1] or [
            f"{in_class}{_safe_name(item.name)}.mpk"]
        config.stash[_DECLARED].update((Path(name) if Path(name).is_absolute() else own / name).resolve()
                                       for name in names)


@pytest.fixture(scope="session")
def rec_config() -> dict[str, Any]:
    """Settings for every rec test, merged under the markers (override it at any scope, as ``vcr_config``)."""
    return {}


@pytest.fixture
def rec_mode(request: pytest.FixtureRequest) -> str:
    """The record mode in effect: none, once, new_episodes, all or rewrite."""
    return str(request.config.getoption("--rec-mode") or os.environ.get("REC_MODE") or "none")


@pytest.fixture
def rec_options(request: pytest.FixtureRequest, rec_config: dict[str, Any]) -> RecOptions:
    """``rec_config`` then the ``rec`` markers from the broadest to the test's own; a bad key fails the test."""
    from rec.config import ConfigError

    try:
        found = _project_settings(request.config)
    except ConfigError as err:
        pytest.fail(f"rec: {err}", pytrace=False)
    project = {key: found[1][key] for key in ("max_age", "on_expiry") if found and key in found[1]}
    markers = list(request.node.iter_markers("rec"))[::-1]  # iter_markers yields the closest first
    layers = [(f"{found[0] if found else '[tool.rec]'}", (), project), ("rec_config", (), rec_config),
              *((f"@pytest.mark.rec on {request.node.nodeid}", m.args, m.kwargs) for m in markers)]
    try:
        return merge_options(layers)
    except ValueError as err:
        pytest.fail(f"rec: {err}", pytrace=False)


def _project_settings(config: pytest.Config) -> tuple[Path, dict[str, Any]] | None:
    """The project's rec settings (rec.toml or [tool.rec]), read once per run: they do not change during it."""
    from rec.config import find_settings

    if _SETTINGS not in config.stash:
        config.stash[_SETTINGS] = find_settings(config.rootpath)
    return config.stash[_SETTINGS]


def _normalizer(config: pytest.Config, options: RecOptions) -> Normalizer:
    """The normalizer for a test's ignore and mask settings over the project's, built once per distinct pair."""
    from rec.config import normalizer_from

    built = config.stash[_NORMALIZERS]
    key = (options.ignore, options.mask)
    if key not in built:
        built[key] = normalizer_from(_project_settings(config), options.ignore, options.mask)
    return built[key]


@pytest.fixture
def rec_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where this test's cassettes live; override the fixture to move them (as with pytest-recording)."""
    folder = request.config.getini("rec_cassette_dir")
    return Path(request.node.path).parent / folder / request.node.path.stem


@pytest.fixture
def rec_cassette_paths(request: pytest.FixtureRequest, rec_cassette_dir: Path, rec_options: RecOptions) -> list[Path]:
    """The cassettes for this test: the marker's (relative to rec_cassette_dir), else <test>.mpk."""
    named = list(rec_options.cassettes)
    if not named:
        prefix = f"{request.cls.__name__}." if request.cls is not None else ""
        named = [f"{prefix}{_safe_name(request.node.name)}.mpk"]
    paths = [Path(name) if Path(name).is_absolute() else rec_cassette_dir / name for name in named]
    request.config.stash[_DECLARED].update(path.resolve() for path in paths)
    return paths


def _safe_name(name: str) -> str:
    """A test's node name as a file name: parametrize ids keep their text, odd characters become _."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "test"


@dataclass
class RecSession:
    """What ``rec_server`` gives a test: the base URL, the mode, and the requests served or recorded."""

    mode: str  # "replay" or "record"
    url: str
    cassettes: list[Path]
    server: ReplayServer | None = None  # the replay in front of the recorder (new_episodes)
    recording: Path | None = None  # the cassette being written, in record modes
    remote: Session | None = None  # the session on a shared `rec serve` (--rec-serve)
    replay: HostedReplay | None = None  # the session on this process's replay host

    @property
    def log(self) -> RequestLog:
        """The requests served (replaying) or recorded so far (recording), with the harness's helpers."""
        from rec.testing.recording import request_log_of
        from replayer.request_log import journal_log

        if self.replay is not None:
            return self.replay.log
        if self.server is not None:
            return self.server.log
        if self.remote is not None:
            return journal_log(self.remote.requests())
        assert self.recording is not None
        return request_log_of(self.recording)


@pytest.fixture
def rec_server(request: pytest.FixtureRequest, rec_mode: str, rec_options: RecOptions, rec_cassette_paths: list[Path],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[RecSession]:
    """A replayer serving this test's cassettes, or a recorder writing them, by the record mode."""
    request.node.stash[_OPTIONS] = rec_options
    cassette = rec_cassette_paths[0]
    # `rewrite` records as if there were no cassette, and replaces it only once the new recording is kept.
    stale = _expired(cassette, rec_options)
    missing = [path for path in rec_cassette_paths if not path.is_file()]
    records = rec_mode in ("all", "rewrite") or (rec_mode in ("once", "new_episodes") and bool(missing or stale))
    if not os.environ.get("OPENAI_API_KEY"):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-rec-replay")  # the SDK insists on one; nothing checks it
    if records or (rec_mode == "new_episodes" and not missing):
        yield from _record(request, rec_options, rec_cassette_paths, monkeypatch,
                           append=rec_mode == "new_episodes" and not missing and not stale)
        return
    if missing:
        pytest.fail(f"rec: no cassette {missing[0]}; record it: pytest '{request.node.nodeid}' --rec-mode=once "
                    f"--rec-upstream {_upstream(request.config)} (with an API key for that upstream)", pytrace=False)
    if request.config.getoption("--rec-block-network"):
        _block_network(monkeypatch, request.node.nodeid)
    shared = request.config.getoption("--rec-serve") or os.environ.get("REC_SERVE_URL")
    if shared:
        remote = _remote_session(shared, rec_cassette_paths, rec_options)
        monkeypatch.setenv("OPENAI_BASE_URL", remote.base_url)
        session = RecSession("replay", remote.base_url, rec_cassette_paths, remote=remote)
        request.node.stash[_SESSION] = session
        yield session
        return
    replay = _replay(request.config, rec_cassette_paths, rec_options)
    monkeypatch.setenv("OPENAI_BASE_URL", replay.url)
    session = RecSession("replay", replay.url, rec_cassette_paths, replay=replay)
    request.node.stash[_SESSION] = session
    try:
        yield session
    finally:
        replay.end()  # ended already when the test passed; a failed or skipped test's session ends here


@pytest.fixture(autouse=True)
def _rec_marker_alone(request: pytest.FixtureRequest) -> None:
    """``@pytest.mark.rec`` works on its own, as pytest-recording's ``vcr`` marker does: it brings ``rec_server``,
    so a marked test never reaches the live API by accident."""
    if request.node.get_closest_marker("rec") is not None and "rec_server" not in request.fixturenames:
        request.getfixturevalue("rec_server")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a test passed, its replay's problems fail it (once: as the test's failure, not a teardown error).

    A test that failed on its own while the replay refused something (the client raised on rec's 409)
    fails with rec's report first: that is the cause a person needs to see.
    """
    session = item.stash.get(_SESSION, None)
    try:
        result = yield
    except Exception as error:
        if session is None or session.mode != "replay":
            raise
        problems = _problems(_final_events(session), item.stash[_OPTIONS], item.nodeid, item.config,
                             session.cassettes)
        if not problems:
            raise
        pytest.fail(f"rec: replaying {_named(session.cassettes)}, the test raised {type(error).__name__}: "
                    f"{str(error)[:300]}\n  " + "\n  ".join(problems), pytrace=False)
    if session is not None and session.mode == "replay":
        problems = _problems(_final_events(session), item.stash[_OPTIONS], item.nodeid, item.config,
                             session.cassettes)
        if problems:
            pytest.fail(f"rec: replaying {_named(session.cassettes)}:\n  " + "\n  ".join(problems), pytrace=False)
    return result


def _final_events(session: RecSession) -> list[Any]:
    """End the test's replay (its session here, or on a shared `rec serve`) and return its report's events."""
    if session.replay is not None:
        return session.replay.end()
    if session.server is not None:
        session.server.__exit__(None, None, None)
        return list(session.server.report.events)
    assert session.remote is not None
    try:
        return list(session.remote.delete()["events"])
    except Exception:  # the shared server is gone: the test's own failure says enough
        return []


def _named(paths: list[Path]) -> str:
    return ", ".join(str(path) for path in paths)


# What to do about each kind of problem, in pytest's words: {rerecord} is the command that records again.
_ADVICE = {
    "drift": "the requests changed since the recording: record again with {rerecord}, or allow it with "
             "@pytest.mark.rec(allow_drift=True)",
    "unmatched": "the test made a request the cassette does not hold: record it with {rerecord}, or add just the "
                 "new requests with --rec-mode=new_episodes",
    "unused": "the test no longer makes every recorded request: record again with {rerecord}, or allow it with "
              "@pytest.mark.rec(allow_unused=True)",
    "unconsumed": "the client left a stream unread: read streams to the end, or allow it with "
                  "@pytest.mark.rec(allow_unconsumed=True)",
    "violation": "the client sent a request the API would refuse (rec checks the Responses invariants): fix the "
                 "client, or turn the check off with @pytest.mark.rec(validate=False)",
}


def _problems(events: list[Any], options: RecOptions, nodeid: str, config: pytest.Config,
              cassettes: list[Path]) -> list[str]:
    policy = replace(PYTEST, unused=not options.allow_unused, unconsumed=not options.allow_unconsumed,
                     drift=not options.allow_drift)
    failures = policy.failures(events)
    if not failures:
        return []
    problems = [event_line(event) for event in failures]
    rerecord = (f"pytest '{nodeid}' --rec-mode=rewrite --rec-upstream {_upstream(config, cassettes[0])} (the "
                "cassette is replaced only once the new recording is kept)")
    for kind in dict.fromkeys(kind_of(event) for event in failures):
        if kind in _ADVICE:
            problems.append(_ADVICE[kind].format(rerecord=rerecord))
    return problems


def _upstream(config: pytest.Config, cassette: Path | None = None) -> str:
    """Where a cassette is recorded from: --rec-upstream or REC_UPSTREAM, else the cassette's own, else the API."""
    configured = config.getoption("--rec-upstream") or os.environ.get("REC_UPSTREAM")
    if configured:
        return str(configured)
    if cassette is not None and cassette.is_file():
        from rec.cassette import CassetteError, CassetteReader

        with contextlib.suppress(CassetteError, OSError), CassetteReader(cassette) as reader:
            if reader.header.upstream:
                return shlex.quote(reader.header.upstream)
    return DEFAULT_UPSTREAM


def _replay_server(config: pytest.Config, paths: list[Path], options: RecOptions) -> ReplayServer:
    """A replay server of its own (the replay in front of the recorder in new_episodes)."""
    from replayer.server import ReplayServer

    return _loaded(config, options, functools.partial(ReplayServer.from_cassettes, paths))


def _replay(config: pytest.Config, paths: list[Path], options: RecOptions) -> HostedReplay:
    """The test's session on this process's replay host, started by the first test that replays."""
    host: ReplayHost | None = config.stash.get(_HOST, None)
    if host is None:
        from rec.testing.replaying import ReplayHost

        host = config.stash[_HOST] = ReplayHost()
    return _loaded(config, options, functools.partial(host.replay, paths))


Loaded = TypeVar("Loaded", "ReplayServer", "HostedReplay")


def _loaded(config: pytest.Config, options: RecOptions, load: Callable[..., Loaded]) -> Loaded:
    """Load the cassettes with the test's settings; a bad cassette or setting fails the test, a cut one warns."""
    from rec.cassette import CassetteError
    from rec.config import ConfigError
    from replayer.faults import FaultSpecError

    try:
        normalizer = _normalizer(config, options)
        loaded = load(timing=options.timing, match=options.match, repeat=options.repeat, normalizer=normalizer,
                      validate=options.validate, faults=options.fault)
    except (CassetteError, ConfigError, FaultSpecError) as err:
        pytest.fail(f"rec: {err}", pytrace=False)
    for warning in loaded.warnings:
        warnings.warn(pytest.PytestWarning(f"rec: {warning}"), stacklevel=3)  # a cut cassette: served, with a warning
    return loaded


def _remote_session(url: str, paths: list[Path], options: RecOptions) -> Session:
    from replayer.serve_client import RecServe, ServeError

    try:
        return RecServe(url).create_session(
            cassettes=[str(path.resolve()) for path in paths], match=options.match.value, timing=options.timing,
            repeat=options.repeat, faults=list(options.fault), ignore=list(options.ignore), mask=list(options.mask),
            validate=options.validate)
    except (ServeError, OSError) as err:
        pytest.fail(f"rec: the shared rec serve at {url} refused the session: {err}", pytrace=False)


def _record(request: pytest.FixtureRequest, options: RecOptions, paths: list[Path], monkeypatch: pytest.MonkeyPatch,
            append: bool) -> Iterator[RecSession]:
    """Record this test through `rec record`; with ``append`` (new_episodes), replay what matches first."""
    from rec.testing.recording import RecordingError, keep, recorder_command

    config = request.config
    cassette = paths[0]
    upstream = config.getoption("--rec-upstream") or os.environ.get("REC_UPSTREAM") or DEFAULT_UPSTREAM
    configured = config.getoption("--rec-command") or os.environ.get("REC_COMMAND") or config.getini("rec_command")
    # One partial per recording: tests in other processes (xdist workers) may record the same cassette.
    partial = cassette.with_name(f".{cassette.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        recorder = _recorder(config, tuple(recorder_command(configured)), upstream)
        recording, url = recorder.open(partial, options.redact)
    except RecordingError as err:
        pytest.fail(f"rec: {err}", pytrace=False)
    try:
        if append:
            host, port = recorder.origin.removeprefix("http://").rsplit(":", 1)
            server = _replay_server(config, paths, replace(options, allow_unused=True))
            server.core.forward_to = (host, int(port))
            server.core.forward_prefix = url.removeprefix(recorder.origin).removesuffix("/v1")
            with server:
                monkeypatch.setenv("OPENAI_BASE_URL", server.url)
                yield RecSession("record", server.url, paths, server, partial)
        else:
            monkeypatch.setenv("OPENAI_BASE_URL", url)
            yield RecSession("record", url, paths[:1], None, partial)
    finally:
        try:
            recorder.close_recording(recording)
        except RecordingError as err:
            pytest.fail(f"rec: {err}", pytrace=False)
    warning = keep(partial, cassette, append, _run_started())
    if warning is not None and not (append and "no exchange" in warning):
        request.node.warn(pytest.PytestWarning(f"rec: {warning}"))


def _recorder(config: pytest.Config, command: tuple[str, ...], upstream: str) -> Recorder:
    """This process's recorder for an upstream, started by the first test that records through it."""
    from rec.testing.recording import Recorder

    recorders = config.stash[_RECORDERS]
    recorder = recorders.get((command, upstream))
    if recorder is None:
        recorder = Recorder(command, upstream)
        recorder.start()
        recorders[(command, upstream)] = recorder
    return recorder


def _expired(cassette: Path, options: RecOptions) -> bool:
    """Whether the cassette is past its max_age; warn, fail, or (rerecord) report it for recording again."""
    if options.max_age is None or not cassette.is_file():
        return False
    from rec.check.age import is_stale

    if not is_stale(cassette, options.max_age):
        return False
    message = f"rec: {cassette} is older than max_age ({options.max_age})"
    if options.on_expiry == "fail":
        pytest.fail(f"{message}; record it again: --rec-mode=rewrite", pytrace=False)
    if options.on_expiry == "warn":
        warnings.warn(pytest.PytestWarning(f"{message}; record it again with --rec-mode=rewrite"), stacklevel=2)
        return False
    return True  # rerecord: --rec-mode=once (or new_episodes) records it again


def _block_network(monkeypatch: pytest.MonkeyPatch, nodeid: str) -> None:
    """Refuse connections to anything but loopback while a test replays."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"rec: {nodeid} tried to reach {address[0]}:{address[1]} while replaying "
                                         "(--rec-block-network): the client ignored OPENAI_BASE_URL")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """With --rec-check-orphans: the cassettes under the cassette folders that no collected test used."""
    if not config.getoption("--rec-check-orphans"):
        return
    used = config.stash[_DECLARED]
    orphans = sorted(path for folder in config.stash[_FOLDERS] if folder.is_dir()
                     for path in folder.rglob("*.mpk") if path.resolve() not in used)
    terminalreporter.section("rec: orphan cassettes")
    if not orphans:
        terminalreporter.write_line("none: every cassette under the cassette folders is used")
    for path in orphans:
        terminalreporter.write_line(f"{path}: no collected test uses it; delete it (git rm {shlex.quote(str(path))})")


@pytest.fixture
def rec_mock() -> Iterator[MockServer]:
    """A mock Responses server for the mount API; a violation, unmatched request or unmet count fails the test."""
    from rec.testing.mock import start_mock_server  # imported by the tests that mount, not by every run

    server = start_mock_server()
    yield server
    server.close(verify=False)
    try:
        server.verify()
    except AssertionError as err:
        pytest.fail(str(err), pytrace=False)
