"""`rec serve`: one long-running replay server, many isolated sessions, driven over HTTP.

Each session is a ``ReplayCore`` of its own (cursors, conversation chains, faults, lanes,
request log, report) reached under its own prefix, ``/s/<id>/v1/...``, by HTTP and by the
``/responses`` WebSocket alike. The control API lives under the reserved ``/__rec/``:

- ``POST /__rec/sessions`` ``{"cassettes": [...] | "scenario": {...}, "match", "timing", "repeat",
  "faults", "ignore", "mask", "validate"}`` -> ``201 {"id", "base_url"}``
- ``GET /__rec/sessions/{id}/requests`` (the journal), ``GET .../report``, ``DELETE /__rec/sessions/{id}``
  (the final report), ``GET /__rec/health``.

Errors are the API's ``{"error": {"message", "type", "code", "param"}}`` with one-line messages. A cassette outside the
allowed roots is refused, so a request cannot make the server read any file; the control API takes JSON only, and
refuses a web page's requests, so a page a developer opens cannot drive it.

One session never holds up another: loading cassettes and building a journal or a report run on a worker
thread, not on the event loop that answers every session; a session with a connection still open (a
WebSocket, a stream going out) is never reaped as idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import ipaddress
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from rec.cassette import CassetteError, Exchange, Response
from replayer.answers import BodyAnswer, HttpAnswer, error_answer, json_answer
from replayer.core import ReplayCore
from replayer.errors import Refused, internal_error
from replayer.faults import FaultSpecError
from replayer.hosting import Host
from replayer.limits import Limits
from replayer.match_modes import MatchMode
from replayer.pacing import parse_timing
from replayer.report import ReportEvent
from replayer.request_log import KEPT, ResponsesRequest, journal
from replayer.routes import PathPattern, show_route

CONTROL = "/__rec"
SESSION_PREFIX = "/s/"
# Session targets remembered with their session (for core_for): past this many, the memory starts again.
_TARGETS_REMEMBERED = 4096
# Every option a session takes, and what it must be (as a refusal says it).
_OPTIONS = {
    "cassettes": "a list of cassette paths",
    "scenario": "a scenario object ({\"exchanges\": [...]})",
    "match": "a string (\"sequence\" or \"body\")",
    "timing": "a string (\"none\", \"recorded\" or \"scale:F\")",
    "repeat": "true or false",
    "validate": "true or false",
    "faults": "a list of fault specs",
    "ignore": "a list of JSON paths",
    "mask": "a list of regular expressions",
}
# A cassette path longer than this is no path a file system takes.
_MAX_PATH = 4096

T = TypeVar("T")

# A control API endpoint: the request and its path parameters -> status and JSON body; refusals raise Refused.
ControlHandler = Callable[[ResponsesRequest, dict[str, str]], Awaitable[tuple[int, Any]]]


@dataclass
class Session:
    """One client's replay: its core, and what the reaper needs to tell whether it is idle."""

    id: str
    core: ReplayCore
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)  # when the reaper last saw it in use
    # Requests routed to it: counted (one addition) rather than timed per request; the reaper, which looks every few
    # seconds, takes a change since its last look as a use.
    requests: int = 0
    requests_seen: int = 0


class ControlAnswer(HttpAnswer):
    """A control API answer, computed as it is sent: its handler may wait for the worker thread, and whatever it
    raises is answered (a Refused as itself, anything else as a 500) on a connection that stays open."""

    def __init__(self, handler: Callable[[], Awaitable[tuple[int, Any]]], request: ResponsesRequest) -> None:
        self.handler = handler
        self.request = request

    async def send(self, transport: asyncio.Transport, pace: float | None, start: float) -> bool:
        try:
            status, body = await self.handler()
            # A journal or report comes encoded from the worker thread: a large one costs the loop no time.
            answer = json_answer(body, status) if not isinstance(body, bytes) else BodyAnswer(
                Response(status=status, headers=[("content-type", "application/json")], chunks=[(0.0, body)]), 0.0)
        except Refused as refused:
            answer = error_answer(refused)
        except Exception as err:  # a bug must not take the connection (or the server) down: say what broke
            answer = error_answer(internal_error(self.request.method, self.request.target, err))
        if not transport.is_closing():
            transport.write(answer.immediate or b"")
        return True


class SessionHub(Host):
    """The server behind `rec serve`: a Hub (replayer.http) that routes each request to its session's core."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, roots: Sequence[str | os.PathLike[str]] = (),
                 idle_timeout: float = 600.0, limits: Limits | None = None, emit: Any = None) -> None:
        super().__init__(host, port, limits)
        self.roots = [Path(root).resolve() for root in (roots or [Path.cwd()])]
        self.idle_timeout = idle_timeout
        self.emit = emit
        self.sessions: dict[str, Session] = {}
        self._targets: dict[str, tuple[Session, tuple[ReplayCore, str]]] = {}  # core_for's memory of targets seen
        # The control API under CONTROL, as data: adding an endpoint is one line and its handler.
        self._routes: tuple[tuple[str, PathPattern, Callable[..., Awaitable[tuple[int, Any]]]], ...] = (
            ("GET", PathPattern("/health"), self._health),
            ("POST", PathPattern("/sessions"), self._create),
            ("GET", PathPattern("/sessions"), self._list),
            ("DELETE", PathPattern("/sessions/{id}"), self._end),
            ("GET", PathPattern("/sessions/{id}/requests"), self._journal),
            ("GET", PathPattern("/sessions/{id}/report"), self._report),
        )
        self.created = 0
        # Work that takes long (loading cassettes, a report of a million exchanges) runs here, one job at a
        # time, so the event loop goes on answering every session meanwhile.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rec-serve-worker")

    @property
    def url(self) -> str:
        return self.origin

    # --- replayer.http.Hub ------------------------------------------------------------

    def core_for(self, target: str) -> tuple[ReplayCore, str] | None:
        # Every request to every session passes here, and a client asks for the same few targets again and again:
        # one lookup of the whole target answers most, without taking it apart.
        known = self._targets.get(target)
        if known is None:
            known = self._session_target(target)
            if known is None:
                return None
        known[0].requests += 1
        return known[1]

    def _session_target(self, target: str) -> tuple[Session, tuple[ReplayCore, str]] | None:
        """The session a target reaches and the target as its core sees it, remembered for the next time."""
        if not target.startswith(SESSION_PREFIX):
            return None
        session_id, slash, rest = target[len(SESSION_PREFIX):].partition("/")
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if len(self._targets) >= _TARGETS_REMEMBERED:
            self._targets.clear()
        known = self._targets[target] = (session, (session.core, slash + rest))
        return known

    def control(self, request: ResponsesRequest) -> HttpAnswer:
        try:
            handler, params = self._route(request)
        except Refused as refused:
            return error_answer(refused)
        return ControlAnswer(functools.partial(handler, request, params), request)

    # --- the control API --------------------------------------------------------------

    def _route(self, request: ResponsesRequest) -> tuple[ControlHandler, dict[str, str]]:
        path = request.target.partition("?")[0].rstrip("/")
        method = request.method
        if path.startswith(SESSION_PREFIX):
            raise Refused(404, "rec_unknown_session", f"no session {path[len(SESSION_PREFIX):].split('/')[0]!r}"
                                                       " (ended, reaped, or never created)")
        if not path.startswith(CONTROL):
            raise Refused(404, "rec_unknown_route", f"{method} {path} is neither a session URL ("
                                                    f"{SESSION_PREFIX}<id>/v1/...) nor the control API ({CONTROL}/)")
        self._check_not_cross_site(request)
        for route_method, pattern, handler in self._routes:
            params = pattern.match(path[len(CONTROL):]) if method == route_method else None
            if params is not None:
                return handler, params
        listed = ", ".join(f"{m} {CONTROL}{p.text}" for m, p, _ in self._routes)
        raise Refused(404, "rec_unknown_route", f"{method} {path}: the control API has {listed}")

    def _check_not_cross_site(self, request: ResponsesRequest) -> None:
        """Refuse what a web page could send: a page may POST text/plain or a form anywhere without asking, and
        a page whose name was pointed at 127.0.0.1 (DNS rebinding) is, to the browser, the server's own origin.

        So options come as application/json only (which a page cannot send elsewhere unless the server agrees,
        and rec serve never does); a request from a page (it carries an ``Origin``) is served only from a page on
        this machine or of this server; and a server on a loopback address answers only a loopback Host.
        """
        if request.method == "POST":
            media_type = (request.header("content-type") or "").partition(";")[0].strip().lower()
            if media_type != "application/json":
                raise Refused(415, "rec_bad_request", f"send the control API JSON with Content-Type: "
                                                      f"application/json (got {media_type or 'none'!r})")
        host = request.header("host") or ""
        origin = request.header("origin")
        if origin is not None and not _is_loopback(urlsplit(origin).hostname) and urlsplit(origin).netloc != host:
            raise Refused(403, "rec_cross_site", f"the control API does not answer a web page from {origin[:100]!r}")
        if _is_loopback(self.host) and host and not _is_loopback(urlsplit(f"//{host}").hostname):
            raise Refused(403, "rec_cross_site", f"the control API on {self.host} does not answer requests for "
                                                 f"Host {host[:100]!r} (use 127.0.0.1, [::1] or localhost)")

    async def _health(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"status": "ok", "sessions": len(self.sessions)}

    async def _create(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 201, await self.create_session(_json_body(request))

    async def _list(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"sessions": sorted(self.sessions)}

    async def _end(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        session = self._session(params["id"])
        self.remove_session(session)
        self._say(f"ended session {session.id}")
        return 200, await self.off_loop(lambda: orjson.dumps(session.core.finish().to_json()))

    async def _journal(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        log = self._session(params["id"]).core.log
        return 200, await self.off_loop(lambda: orjson.dumps(journal(log)))

    async def _report(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        core = self._session(params["id"]).core
        return 200, await self.off_loop(lambda: orjson.dumps(report_now(core)))

    def remove_session(self, session: Session) -> None:
        """Serve ``session`` no more (the control API's delete, the reaper, or a host in the same process); with the
        last one gone, what was frozen goes back to the collector (a cycle made anywhere before a freeze is
        collected then, when no session can be held up by it)."""
        self.sessions.pop(session.id, None)
        self._targets.clear()  # none may lead to a session that is gone
        if not self.sessions:
            gc.unfreeze()

    def _session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise Refused(404, "rec_unknown_session", f"no session {session_id!r} (ended, reaped, or never created)")
        return session

    async def off_loop(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on the worker thread: the loop goes on answering every session while it runs."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(work, *args))

    async def create_session(self, options: dict[str, Any]) -> dict[str, str]:
        """A new session from the same options as `rec replay` (or a scenario); Refused names a bad one."""
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise Refused(400, "rec_bad_option", f"unknown option {unknown[0]!r}; use {', '.join(sorted(_OPTIONS))}",
                          param=unknown[0])
        session = self.add_session(await self.off_loop(self._core, options))
        return {"id": session.id, "base_url": self.base_url(session)}

    def add_session(self, core: ReplayCore) -> Session:
        """Serve ``core`` as a new session (the control API's create, or a host in the same process)."""
        self.created += 1
        session = Session(secrets.token_hex(6), core)
        self.sessions[session.id] = session
        self._say(f"started session {session.id} ({len(core.matcher.recorded)} exchange(s))")
        return session

    def base_url(self, session: Session) -> str:
        """The base URL a client of this session uses, with /v1."""
        return f"{self.url}{SESSION_PREFIX}{session.id}/v1"

    def _core(self, options: dict[str, Any]) -> ReplayCore:
        """The session's core, its cassettes loaded (on the worker thread: nothing else sees it until it is done)."""
        from rec.config import ConfigError, load_normalizer

        match = _parsed("match", MatchMode.parse, _option(options, "match", str, "sequence"))
        pace = _parsed("timing", parse_timing, _option(options, "timing", str, "none"))
        repeat, validate = _option(options, "repeat", bool, False), _option(options, "validate", bool, True)
        try:
            normalizer = load_normalizer(_strings(options, "ignore"))
        except ConfigError as err:
            raise Refused(400, "rec_bad_option", str(err), param="ignore") from None
        normalizer = _parsed("mask", normalizer.with_masks, _strings(options, "mask"))
        faults = _strings(options, "faults")
        core = _parsed("faults", lambda specs: ReplayCore(
            match=match, normalizer=normalizer, repeat=repeat, validate=validate, faults=specs, pace=pace,
            keep_requests=True, decoded_body_limit=self.limits.decoded_body, log_kept=KEPT), faults)
        if ("cassettes" in options) == ("scenario" in options):
            raise Refused(400, "rec_bad_option", "give either \"cassettes\": [paths] or \"scenario\": {...}")
        if "scenario" in options:
            with _frozen_once_made():
                core.matcher.add_exchanges(_scenario_exchanges(options["scenario"]))
            _parsed("faults", lambda _: core.check_fault_targets(), faults)
            return core
        paths = [self._allowed(path) for path in _strings(options, "cassettes")]
        try:
            with _frozen_once_made():
                core.load(paths)
        except (CassetteError, FaultSpecError) as err:
            raise Refused(400, "rec_bad_cassette", str(err), param="cassettes") from None
        return core

    def _allowed(self, path: str) -> Path:
        """The cassette's real path, when it lies under an allowed root (symlinks and `..` resolved first).

        A relative path is looked for in each root, then in the working folder.
        """
        if not path or "\0" in path or len(path) > _MAX_PATH:
            raise Refused(400, "rec_bad_option", f"option 'cassettes': {path[:80]!r} is not a file path",
                          param="cassettes")
        given = Path(path).expanduser()
        if not given.is_absolute():
            places = [root / given for root in self.roots] + [Path.cwd() / given]
            given = next((place for place in places if place.exists()), places[-1])
        try:
            resolved = given.resolve()
            is_file = resolved.is_file()
        except (OSError, RuntimeError) as err:  # a name too long, a symlink loop
            raise Refused(400, "rec_bad_cassette", f"cassette {path[:200]!r}: {err}", param="cassettes") from None
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise Refused(400, "rec_path_not_allowed",
                          f"cassette {path!r} is outside the allowed roots ({', '.join(map(str, self.roots))}); "
                          "start rec serve with --root to allow its folder", param="cassettes")
        if not is_file:
            raise Refused(400, "rec_bad_cassette", f"cassette {path!r}: no such file", param="cassettes")
        return resolved

    def _say(self, line: str) -> None:
        if self.emit is not None:
            self.emit(line)

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> SessionHub:
        """Listen on host:port (port 0 picks a free one); raises OSError when the port is taken."""
        await self.listen()
        self.spawn(self._reap())
        return self

    async def _reap(self) -> None:
        """End sessions idle for longer than ``idle_timeout`` (a test run that died without DELETE); a session with
        an open WebSocket or an answer still going out is in use, however long since its last request."""
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout / 4))
            now = time.monotonic()
            in_use = {id(core) for connection in self.connections for core in connection.cores_in_use()}
            for session in list(self.sessions.values()):
                if id(session.core) in in_use or session.requests != session.requests_seen:
                    session.requests_seen = session.requests
                    session.last_used = now
                elif now - session.last_used > self.idle_timeout:
                    self.remove_session(session)
                    self._say(f"reaped session {session.id}: idle for {self.idle_timeout:g} s")

    async def aclose(self) -> None:
        await self.stop_listening()
        self._worker.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _frozen_once_made() -> Iterator[None]:
    """Make a session's recordings with the cyclic collector paused, then freeze them (``gc.freeze``).

    A million objects made at once cost the collector a scan of them all, a fifth of a second in which no
    thread runs: every other session would wait. Frozen, they are never scanned; a core holds no reference
    cycle, so it is still freed, by reference counting, as soon as its session ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _is_loopback(host: str | None) -> bool:
    """Whether a host name or address is this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _json_body(request: ResponsesRequest) -> dict[str, Any]:
    try:
        value = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError as err:
        raise Refused(400, "rec_bad_request", f"the body is not JSON ({err})") from None
    if not isinstance(value, dict):
        raise Refused(400, "rec_bad_request", "the body must be a JSON object of session options")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _bad_option(key: str, value: Any) -> Refused:
    return Refused(400, "rec_bad_option", f"option {key!r} must be {_OPTIONS[key]}, got {_json_type(value)}",
                   param=key)


def _option(options: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = options.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad_option(key, value)
    return value


def _strings(options: dict[str, Any], key: str) -> list[str]:
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad_option(key, value)
    return value


def _parsed(key: str, parse: Callable[[Any], T], value: Any) -> T:
    """``parse(value)``, a ValueError it raises answered as a bad option named ``key``."""
    try:
        return parse(value)
    except ValueError as err:
        raise Refused(400, "rec_bad_option", f"option {key!r}: {err}", param=key) from None


def _scenario_exchanges(document: Any) -> list[Exchange]:
    from rec.synth.scenario import scenario_from_json

    if not isinstance(document, dict):
        raise _bad_option("scenario", document)
    try:
        return list(scenario_from_json(document).exchanges)
    except ValueError as err:
        raise Refused(400, "rec_bad_scenario", f"scenario: {err}", param="scenario") from None


def report_now(core: ReplayCore) -> dict[str, Any]:
    """The report as it stands, with the exchanges unused so far listed (the final one comes with DELETE)."""
    if core.report.finished:
        return core.report.to_json()
    return core.report.to_json(unused=(ReportEvent("unused", show_route(entry.route), entry.index, message)
                                       for entry, message in core.matcher.iter_unused()))
