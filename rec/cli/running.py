"""Running a replay host from the command line: listen, print the URL, serve until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Protocol

import typer


class Startable(Protocol):
    host: str
    port: int

    @property
    def url(self) -> str: ...

    async def start(self) -> object: ...

    async def aclose(self) -> object: ...


def run_until_signal(server: Startable) -> int:
    """Serve until a signal; 2 (after one line on stderr) when the address cannot be listened on, else 0."""
    from replayer.runner import new_event_loop

    async def serve() -> int:
        try:
            await server.start()
        except OSError as err:
            # uvloop words it "error while attempting to bind on address ...": say just what went wrong.
            reason = os.strerror(err.errno).lower() if err.errno else str(err)
            typer.echo(f"rec: error: cannot listen on {server.host}:{server.port}: {reason}; "
                       "pick another --port (0 picks a free one)", err=True)
            return 2
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # Only now: a client (or a script) may signal as soon as it reads the URL.
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        await stop.wait()
        await server.aclose()
        return 0

    loop = new_event_loop()
    try:
        return loop.run_until_complete(serve())
    finally:
        loop.close()
