"""`rec serve`: one long-running replay server with sessions created over HTTP, for any language."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rec.cli.errors import fail


def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT",
                                      help="Port to listen on; 0 picks a free one.")] = 0,
    root: Annotated[list[Path] | None, typer.Option(
        metavar="DIR", help="A folder sessions may load cassettes from (repeatable; default: the working folder). "
                            "A relative cassette path is looked for here first; a cassette anywhere else is "
                            "refused.")] = None,
    idle_timeout: Annotated[float, typer.Option(
        min=1, metavar="SECONDS", help="End a session nobody used for this long.")] = 600.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per session started or ended.")] = False,
) -> None:
    """Serve replay sessions, created and read over HTTP under /__rec/, until SIGINT or SIGTERM.

    The first line on stdout is the control URL. POST /__rec/sessions with {"cassettes": [...]}
    (and any rec replay option) answers {"id", "base_url"}: point a client's base URL there.
    GET /__rec/sessions/ID/requests and /report read it; DELETE /__rec/sessions/ID ends it
    with its final report. See docs/serve.md.
    """
    from replayer.sessions import SessionHub

    for folder in root or []:
        if not folder.is_dir():
            raise fail(f"--root {folder}: no such folder")

    def say(line: str) -> None:
        if not quiet:
            sys.stderr.write(f"rec serve: {line}\n")
            sys.stderr.flush()

    hub = SessionHub(host, port, roots=root or [], idle_timeout=idle_timeout, emit=say)
    # The event loop answers every session while a worker thread loads cassettes and builds reports: a thread
    # waiting for the GIL gets it after this long (5 ms by default), so 1 ms keeps the loop's answers prompt.
    sys.setswitchinterval(0.001)

    import gc

    from rec.cli.running import run_until_signal

    # What is loaded now (the interpreter, the CLI, the replayer) lives until exit: keep the collector from
    # rescanning it on every collection while serving, as rec replay does after loading its cassettes.
    gc.freeze()

    code = run_until_signal(hub)
    if code:
        raise typer.Exit(code)
    typer.echo(f"rec serve: {hub.created} session(s) created, {len(hub.sessions)} still open at exit", err=True)
