"""`rec record`: a recording proxy. mitmproxy is imported only when the command runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from rec import __version__
from rec.cli.errors import fail
from rec.urls import origin


def check_upstream(upstream: str) -> str:
    """The upstream origin, normalized; raises ValueError naming what is wrong."""
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--upstream {upstream!r} is not an http(s) origin like https://api.openai.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"--upstream {upstream!r} must be an origin without a path (the client's base URL "
                         "keeps its /v1, which is forwarded as is)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--upstream {upstream!r} has a bad port") from None
    return origin(parts.hostname, port, parts.scheme)


def record(
    upstream: Annotated[str | None, typer.Option(
        help="Origin to forward to, e.g. https://api.openai.com (reverse-proxy mode).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Cassette to write (replaced if it exists).")]
        = Path("run.mpk"),
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT",
                                      help="Port to listen on; 0 picks a free one.")] = 0,
    redact: Annotated[list[str] | None, typer.Option(
        metavar="RULE",
        help="Also redact: header:NAME, json:PATH or regex:PATTERN; or leave a known false positive alone: "
             "allow:PATTERN (repeatable).")] = None,
    forward: Annotated[bool, typer.Option(
        "--forward", help="Run as a forward proxy (HTTPS_PROXY) for clients whose base URL cannot change.")]
        = False,
    record_all: Annotated[bool, typer.Option(
        "--record-all", help="With --forward: record every flow, not only the Responses API.")] = False,
    ssl_insecure: Annotated[bool, typer.Option(
        "--ssl-insecure", help="Do not verify the upstream's TLS certificate (self-signed test upstreams).")]
        = False,
    routes: Annotated[bool, typer.Option(
        "--routes", help="Record many cassettes through this one proxy, each opened and closed over its control "
                         "API with the secret in REC_RECORDER_SECRET (how the pytest plugin records a run); no "
                         "-o. See docs/recording.md.")] = False,
) -> None:
    """Record traffic through a proxy into a cassette; Ctrl-C (or SIGTERM) ends it.

    Point the client's base URL at the printed URL (the first line on stdout). Each
    exchange is appended as it finishes; secrets are redacted before they are written.
    Exit 1 when an exchange could not be written (each is named on stderr with its cause).
    """
    from rec.redaction import RedactionRuleError, Rules

    if forward == (upstream is not None):
        raise fail("give either --upstream ORIGIN (reverse proxy) or --forward (HTTPS_PROXY), not both or neither")
    try:
        origin = check_upstream(upstream) if upstream else None
        rules = Rules().with_rules(redact or [])
    except (ValueError, RedactionRuleError) as err:
        raise fail(str(err)) from None
    secret = os.environ.get("REC_RECORDER_SECRET", "")
    if routes and (forward or not secret):
        raise fail("--routes records behind --upstream, with the control API's secret in REC_RECORDER_SECRET")
    if output.is_dir():
        raise fail(f"{output} is a directory; give a cassette file name with -o")
    if not routes and not os.access(output.parent if str(output.parent) else Path("."), os.W_OK):
        raise fail(f"cannot write {output}: its folder {output.parent} is not writable or does not exist")

    import importlib.util

    if importlib.util.find_spec("mitmproxy") is None:
        raise fail("rec record needs the recorder, which is not installed here: pip install "
                   "'responses-rec[record]' (Python 3.12+), or record from an isolated tool install: "
                   "pipx install 'responses-rec[record]'")
    # The heavy import, only now.
    from rec.cassette import CassetteWriter, Header
    from rec.locking import CassetteLocked
    from recorder.proxy import RecordSettings, run_proxy
    from recorder.redact import Redactor

    writer: CassetteWriter | None = None
    try:
        if not routes:
            # Refused at once if another recorder writes this file: two writers would lose exchanges silently.
            writer = CassetteWriter.create(output, Header(upstream=origin,
                                                          metadata={"recorder": f"rec {__version__}"}), wait=False)
    except CassetteLocked as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror}") from None

    def say(line: str) -> None:
        print(line, flush=True)

    def log(line: str) -> None:
        print(f"rec record: {line}", file=sys.stderr, flush=True)

    settings = RecordSettings(upstream=origin, host=host, port=port, forward=forward, record_all=record_all,
                              redactor=Redactor(rules), ssl_insecure=ssl_insecure, routes_secret=secret)
    try:
        tally = asyncio.run(run_proxy(settings, writer, say, log))
    except OSError as err:
        with contextlib.suppress(OSError):  # the port is the problem to report, not the empty cassette
            if writer is not None:
                writer.close()
        raise fail(str(err)) from None
    finished = True
    try:
        if writer is not None:
            writer.close()
    except OSError as err:
        log(f"could not finish {output}: {err.strerror or err}; it may not hold every exchange counted below")
        finished = False
    lost = f", lost {tally.lost}" if tally.lost else ""
    into = output if writer is not None else "the recordings opened over the control API"
    log(f"recorded {tally.exchanges} exchange(s) ({tally.websockets} WebSocket, {tally.failed} failed){lost} "
        f"into {into}")
    if tally.lost or not finished:
        raise typer.Exit(1)
