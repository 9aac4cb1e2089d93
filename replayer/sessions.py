"""`rec serve`: one long-running replay server, many isolated sessions, driven over HTTP.

Each session is a ``ReplayCore`` of its own (cursors, conversation chains, faults, lanes,
request log, report) reached under its own prefix, ``/s/<id>/v1/...``, by HTTP and by the
``/responses`` WebSocket alike. The control API lives under the reserved ``/__rec/``:

- ``POST /__rec/sessions`` ``{"cassettes": [...] | "scenario": {...}, "match", "timing", "repeat",
  "faults", "ignore", "mask", "validate"}`` -> ``201 {"id", "base_url"}``
- ``GET /__rec/sessions/{id}/requests`` (the journal), ``GET .../report``, ``DELETE /__rec/sessions/{id}``
  (the final report), ``GET /__rec/health``.

Errors are the API's ``{"error": {"message", "type", "code", "param"}}`` with one-line messages. A cassette outside the
allowed roots is refused, so a request cannot make the server read any file.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rec.cassette import CassetteError, Exchange
from rec.redaction import DEFAULT_SECRET_HEADERS as _SECRET_HEADERS  # a journal never shows the client's credentials
from replayer.answers import HttpAnswer, error_answer, json_answer
from replayer.core import ReplayCore
from replayer.errors import Refused
from replayer.faults import FaultSpecError
from replayer.hosting import Host
from replayer.limits import Limits
from replayer.match_modes import MatchMode
from replayer.pacing import parse_timing
from replayer.request_log import RequestLog, ResponsesRequest
from replayer.routes import PathPattern, show_route

CONTROL = "/__rec"
SESSION_PREFIX = "/s/"
_OPTIONS = frozenset({"cassettes", "scenario", "match", "timing", "repeat", "faults", "ignore", "mask", "validate"})


# A control API endpoint: the request and its path parameters -> status and JSON body; refusals raise Refused.
ControlHandler = Callable[[ResponsesRequest, dict[str, str]], tuple[int, Any]]


@dataclass
class Session:
    """One client's replay: its core and when it was last used (for reaping)."""

    id: str
    core: ReplayCore
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)


class SessionHub(Host):
    """The server behind `rec serve`: a Hub (replayer.http) that routes each request to its session's core."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, roots: Sequence[str | os.PathLike[str]] = (),
                 idle_timeout: float = 600.0, limits: Limits | None = None, emit: Any = None) -> None:
        super().__init__(host, port, limits)
        self.roots = [Path(root).resolve() for root in (roots or [Path.cwd()])]
        self.idle_timeout = idle_timeout
        self.emit = emit
        self.sessions: dict[str, Session] = {}
        # The control API under CONTROL, as data: adding an endpoint is one line and its handler.
        self._routes: tuple[tuple[str, PathPattern, ControlHandler], ...] = (
            ("GET", PathPattern("/health"), self._health),
            ("POST", PathPattern("/sessions"), self._create),
            ("GET", PathPattern("/sessions"), self._list),
            ("DELETE", PathPattern("/sessions/{id}"), self._end),
            ("GET", PathPattern("/sessions/{id}/requests"), self._journal),
            ("GET", PathPattern("/sessions/{id}/report"), self._report),
        )
        self.created = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- replayer.http.Hub ------------------------------------------------------------

    def core_for(self, target: str) -> tuple[ReplayCore, str] | None:
        if not target.startswith(SESSION_PREFIX):
            return None
        session_id, slash, rest = target[len(SESSION_PREFIX):].partition("/")
        session = self.sessions.get(session_id)
        if session is None:
            return None
        session.last_used = time.monotonic()
        return session.core, slash + rest

    def control(self, request: ResponsesRequest) -> HttpAnswer:
        try:
            status, body = self._control(request)
        except Refused as refused:
            return error_answer(refused)
        except Exception as err:  # a bug must not take the connection (or the server) down: say what broke
            return error_answer(Refused(500, "rec_internal_error", f"rec serve failed on {request.method} "
                                        f"{request.target[:200]}: {type(err).__name__}: {err}"))
        return json_answer(body, status)

    # --- the control API --------------------------------------------------------------

    def _control(self, request: ResponsesRequest) -> tuple[int, Any]:
        path = request.target.partition("?")[0].rstrip("/")
        method = request.method
        if path.startswith(SESSION_PREFIX):
            raise Refused(404, "rec_unknown_session", f"no session {path[len(SESSION_PREFIX):].split('/')[0]!r}"
                                                       " (ended, reaped, or never created)")
        if not path.startswith(CONTROL):
            raise Refused(404, "rec_unknown_route", f"{method} {path} is neither a session URL ("
                                                    f"{SESSION_PREFIX}<id>/v1/...) nor the control API ({CONTROL}/)")
        for route_method, pattern, handler in self._routes:
            params = pattern.match(path[len(CONTROL):]) if method == route_method else None
            if params is not None:
                return handler(request, params)
        listed = ", ".join(f"{m} {CONTROL}{p.text}" for m, p, _ in self._routes)
        raise Refused(404, "rec_unknown_route", f"{method} {path}: the control API has {listed}")

    def _health(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"status": "ok", "sessions": len(self.sessions)}

    def _create(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 201, self.create_session(_json_body(request))

    def _list(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, {"sessions": sorted(self.sessions)}

    def _end(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        session = self._session(params["id"])
        del self.sessions[session.id]
        self._say(f"ended session {session.id}")
        return 200, session.core.finish().to_json()

    def _journal(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, journal(self._session(params["id"]).core.log)

    def _report(self, request: ResponsesRequest, params: dict[str, str]) -> tuple[int, Any]:
        return 200, report_now(self._session(params["id"]).core)

    def _session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise Refused(404, "rec_unknown_session", f"no session {session_id!r} (ended, reaped, or never created)")
        return session

    def create_session(self, options: dict[str, Any]) -> dict[str, str]:
        """A new session from the same options as `rec replay` (or a scenario); Refused names a bad one."""
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise Refused(400, "rec_bad_option",
                               f"unknown option {unknown[0]!r}; use {', '.join(sorted(_OPTIONS))}")
        session = self.add_session(self._core(options))
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
        from rec.config import ConfigError, load_normalizer

        try:
            match = MatchMode.parse(_typed(options, "match", str, "sequence"))
            pace = parse_timing(_typed(options, "timing", str, "none"))
            normalizer = load_normalizer(_strings(options, "ignore"), masks=_strings(options, "mask"))
            core = ReplayCore(match=match, normalizer=normalizer, repeat=_typed(options, "repeat", bool, False),
                              validate=_typed(options, "validate", bool, True), faults=_strings(options, "faults"),
                              pace=pace, keep_requests=True, decoded_body_limit=self.limits.decoded_body)
        except (ValueError, ConfigError) as err:
            raise Refused(400, "rec_bad_option", str(err)) from None
        if ("cassettes" in options) == ("scenario" in options):
            raise Refused(400, "rec_bad_option", "give either \"cassettes\": [paths] or \"scenario\": {...}")
        if "scenario" in options:
            core.matcher.add_exchanges(_scenario_exchanges(options["scenario"]))
            return core
        paths = [self._allowed(path) for path in _strings(options, "cassettes")]
        try:
            core.load(paths)
        except (CassetteError, FaultSpecError) as err:
            raise Refused(400, "rec_bad_cassette", str(err)) from None
        return core

    def _allowed(self, path: str) -> Path:
        """The cassette's real path, when it lies under an allowed root (symlinks and `..` resolved first)."""
        resolved = Path(path).expanduser().resolve()
        if not any(resolved.is_relative_to(root) for root in self.roots):
            raise Refused(400, "rec_path_not_allowed",
                               f"cassette {path!r} is outside the allowed roots ({', '.join(map(str, self.roots))}); "
                               "start rec serve with --root to allow its folder")
        if not resolved.is_file():
            raise Refused(400, "rec_bad_cassette", f"cassette {path!r}: no such file")
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
        """End sessions idle for longer than ``idle_timeout`` (a test run that died without DELETE)."""
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout / 4))
            now = time.monotonic()
            for session in [s for s in self.sessions.values() if now - s.last_used > self.idle_timeout]:
                del self.sessions[session.id]
                self._say(f"reaped session {session.id}: idle for {self.idle_timeout:g} s")

    async def aclose(self) -> None:
        await self.stop_listening()


def _json_body(request: ResponsesRequest) -> dict[str, Any]:
    try:
        value = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError as err:
        raise Refused(400, "rec_bad_request", f"the body is not JSON ({err})") from None
    if not isinstance(value, dict):
        raise Refused(400, "rec_bad_request", "the body must be a JSON object of session options")
    return value


def _typed(options: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = options.get(key, default)
    if not isinstance(value, kind):
        raise ValueError(f"option {key!r} must be a {kind.__name__}, got {value!r}")
    return value


def _strings(options: dict[str, Any], key: str) -> list[str]:
    value = options.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Refused(400, "rec_bad_option", f"option {key!r} must be a list of strings")
    return value


def _scenario_exchanges(document: Any) -> list[Exchange]:
    from rec.synth.scenario import scenario_from_json

    try:
        return list(scenario_from_json(document).exchanges)
    except (ValueError, TypeError, KeyError) as err:
        raise Refused(400, "rec_bad_scenario", f"scenario: {err}") from None


def journal(log: RequestLog) -> dict[str, Any]:
    """What the clients sent, decoded, in order, without their credentials."""
    requests = []
    for request in log.requests():
        try:
            body: Any = request.body_json() if request.body else None
        except ValueError:
            body = request.body.decode(errors="replace")
        requests.append({"method": request.method, "path": request.path(), "body": body,
                         "headers": {k.lower(): v for k, v in request.headers if k.lower() not in _SECRET_HEADERS}})
    connections = [{"path": handshake.path,
                    "headers": {k.lower(): v for k, v in handshake.headers if k.lower() not in _SECRET_HEADERS},
                    "messages": [message.body_json() for message in messages]}
                   for handshake, messages in zip(log.handshakes(), log.connections(), strict=False)]
    return {"requests": requests, "websockets": connections}


def report_now(core: ReplayCore) -> dict[str, Any]:
    """The report as it stands, with the exchanges unused so far listed (the final one comes with DELETE)."""
    document = core.report.to_json()
    if not core.report.finished:
        unused = [{"kind": "unused", "route": show_route(entry.route), "exchange": entry.index, "message": message,
                   "diff": "", "recorded": None, "received": None} for entry, message in core.matcher.unused()]
        document["events"] = [*document["events"], *unused]
        document["summary"] = {**document["summary"], "unused": len(unused)}
    return document
