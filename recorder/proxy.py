"""Runs mitmproxy in this process with the recording addon, until a signal says stop.

mitmproxy's master is process-global (``ctx.master``): one recorder per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from mitmproxy import http
from mitmproxy.addons import default_addons
from mitmproxy.master import Master
from mitmproxy.options import Options

from rec.cassette import CassetteWriter, Exchange, HttpExchange, WebSocketExchange, WebSocketPart
from rec.sse import is_event_stream, split_events
from rec.urls import origin
from recorder.addon import RecordAddon, in_responses_api
from recorder.redact import Redactor
from recorder.routing import RecordingRouter

# How long a stop waits for the client connections it closed to be done with (each in-flight flow written).
_CLOSE_WAIT_S = 2.0
# Addons that could change or answer traffic on their own; a recorder must not.
_SKIPPED_ADDONS = {"errorcheck", "serverplayback", "clientplayback", "maplocal", "mapremote", "modifybody",
                   "modifyheaders", "anticache", "anticomp", "stickyauth", "stickycookie", "blocklist", "block"}


@dataclass
class RecordSettings:
    upstream: str | None
    host: str = "127.0.0.1"
    port: int = 0
    forward: bool = False
    record_all: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    ssl_insecure: bool = False
    routes_secret: str = ""  # with no output: recordings opened over recorder.routing's control API


class _OpenClients:
    """Counts the client connections open; ``none_open`` is set when the last has ended. mitmproxy calls
    ``client_disconnected`` once a connection is done with, its flows' ``error`` and ``websocket_end`` hooks run."""

    def __init__(self) -> None:
        self.open = 0
        self.none_open = asyncio.Event()
        self.none_open.set()

    def client_connected(self, client: object) -> None:
        self.open += 1
        self.none_open.clear()

    def client_disconnected(self, client: object) -> None:
        self.open -= 1
        if self.open == 0:
            self.none_open.set()


@dataclass
class Tally:
    exchanges: int = 0
    failed: int = 0
    websockets: int = 0
    lost: int = 0  # exchanges that could not be written (each named on the log with its cause)


def describe(exchange: Exchange) -> str:
    """One log line per finished exchange: method, path, status, events or frames, duration."""
    if isinstance(exchange, WebSocketExchange):
        sent = sum(1 for f in exchange.frames if f.from_client)
        code = exchange.close.code if exchange.close else "-"
        return (f"WS {exchange.request.path} {exchange.response.status} {len(exchange.frames)} frames "
                f"({sent} in) close {code} {exchange.duration_ms:.0f} ms")
    assert isinstance(exchange, HttpExchange)
    request, response = exchange.request, exchange.response
    if response is None:
        status = f"failed ({exchange.end.error}: {exchange.end.message})"
        what = ""
    else:
        status = str(response.status)
        if is_event_stream(response.header("content-type")):
            what = f" {len(split_events(response.body))} events"
        else:
            what = f" {len(response.body)} bytes"
        if exchange.end.state == "error":
            status += f" {exchange.end.error}"
    return f"{request.method} {request.path} {status}{what} {exchange.duration_ms:.0f} ms"


async def run_proxy(settings: RecordSettings, writer: CassetteWriter | None, say: Callable[[str], None],
                    log: Callable[[str], None]) -> Tally:
    """Serve until SIGINT/SIGTERM; returns the tally. Raises OSError when the port cannot be bound.

    With a ``writer``, everything is recorded into it; without one (``settings.routes_secret`` set),
    recordings are opened and closed over the control API of ``recorder.routing``.
    """
    with tempfile.TemporaryDirectory(prefix="rec-record-") as confdir:
        return await _run(settings, writer, say, log, confdir)


async def _run(settings: RecordSettings, writer: CassetteWriter | None, say: Callable[[str], None],
               log: Callable[[str], None], confdir: str) -> Tally:
    tally = Tally()

    def count(exchange: Exchange | WebSocketPart) -> None:
        if isinstance(exchange, WebSocketPart):
            whole = exchange.exchange
            if not exchange.final:
                log(f"WS {whole.request.path}: a turn ended, written")
                return
            tally.exchanges += 1
            tally.websockets += 1
            log(f"WS {whole.request.path} {whole.response.status} closed {whole.close.code if whole.close else '-'} "
                f"{whole.duration_ms:.0f} ms")
            return
        tally.exchanges += 1
        if isinstance(exchange, WebSocketExchange):
            tally.websockets += 1
        elif isinstance(exchange, HttpExchange) and exchange.end.state == "error":
            tally.failed += 1
        log(describe(exchange))

    def lose(what: str, cause: str) -> None:
        tally.lost += 1
        log(f"lost {what}: {cause}")

    mode = "regular" if settings.forward else f"reverse:{settings.upstream}"
    options = Options(listen_host=settings.host, listen_port=settings.port, mode=[mode])
    if not settings.forward:
        # A reverse proxy speaks plain HTTP to the client: it needs no CA, so none is made in ~/.mitmproxy.
        options.update(confdir=confdir)
    master = Master(options, with_termlog=False)
    master.addons.add(*(a for a in default_addons() if type(a).__name__.lower() not in _SKIPPED_ADDONS))
    router: RecordingRouter | None = None
    if writer is not None:
        def append(exchange: Exchange | WebSocketPart) -> None:
            writer.append(exchange)
            count(exchange)

        scope: Callable[[http.HTTPFlow], bool]
        scope = in_responses_api if settings.forward and not settings.record_all else (lambda flow: True)
        master.addons.add(RecordAddon(append, settings.redactor, scope, lose))
    else:
        router = RecordingRouter(settings.upstream, settings.redactor.rules, settings.routes_secret,
                                 master.addons.add, master.addons.remove, count, lose)
        master.addons.add(router)
    # Options of addons exist only once the addons are added.
    options.update(connection_strategy="lazy", ssl_insecure=settings.ssl_insecure, keep_host_header=False)
    _quiet_mitmproxy_logs(log)

    proxyserver = master.addons.get("proxyserver")
    started = asyncio.get_running_loop().create_future()

    class Ready:
        def running(self) -> None:
            if not started.done():
                started.set_result(proxyserver.listen_addrs())

    clients = _OpenClients()
    master.addons.add(Ready(), clients)
    run = asyncio.create_task(master.run())
    done, _ = await asyncio.wait([run, started], return_when=asyncio.FIRST_COMPLETED)
    if run in done or not started.result():
        master.shutdown()
        await asyncio.gather(run, return_exceptions=True)
        raise OSError(f"could not listen on {settings.host}:{settings.port} (is the port in use?)")
    host, port = started.result()[0][:2]
    if router is not None:
        router.origin = origin(host, port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The URL only now, as whoever reads it may stop the recorder at once, and that must be a clean stop: a
    # client's base URL, or with routes the control API's origin (each recording has its own base URL).
    say(f"{origin(host, port)}/v1" if not settings.forward and router is None else origin(host, port))
    await stop.wait()

    # Close client connections first so every in-flight flow reaches its error or
    # websocket_end hook and is written, then stop mitmproxy.
    for handler in list(proxyserver.connections.values()):
        for io in list(handler.transports.values()):
            if io.writer is not None:
                io.writer.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(clients.none_open.wait(), _CLOSE_WAIT_S)
    if router is not None:
        await router.close_all()
    master.shutdown()
    await asyncio.gather(run, return_exceptions=True)
    return tally


def _quiet_mitmproxy_logs(log: Callable[[str], None]) -> None:
    """mitmproxy's own warnings and errors, one line each on our log; its chatter stays out."""

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log(f"mitmproxy: {record.getMessage()}")

    logger = logging.getLogger("mitmproxy")
    logger.handlers = [Forward(level=logging.WARNING)]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
