"""Back-pressure for one client connection: what a client does not read stops what it may send.

asyncio calls a protocol's ``pause_writing`` when its transport holds more unsent bytes than
the high-water mark, and ``resume_writing`` once they drain. Every request, ping or message a
client sends adds to what the server writes back (an answer, a pong, an error), so while the
client is not reading, nothing more is read from it; and the connection's own tasks (turns,
paced streams, error events) wait until it reads before writing more. A flooding or stalled
client then costs its own connection a bounded buffer, and the others nothing.
"""

from __future__ import annotations

import asyncio
import contextlib


class Flow:
    """Why reading from one connection is paused (``hold``/``release`` by reason), and whether it may be written."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._writable = asyncio.Event()
        self._writable.set()
        self._holds: set[str] = set()
        self._released = False  # the connection is closing: nothing waits, nothing is held

    def hold(self, reason: str) -> None:
        """Stop reading from the client until every reason to hold is released."""
        if self._released:
            return
        if not self._holds:
            with contextlib.suppress(RuntimeError, AttributeError):  # a transport already closing
                self.transport.pause_reading()
        self._holds.add(reason)

    def release(self, reason: str) -> None:
        if reason not in self._holds:
            return
        self._holds.discard(reason)
        if not self._holds:
            with contextlib.suppress(RuntimeError, AttributeError):
                self.transport.resume_reading()

    def pause_writing(self) -> None:
        self._writable.clear()
        self.hold("writing")

    def resume_writing(self) -> None:
        self._writable.set()
        self.release("writing")

    async def writable(self) -> None:
        """Wait until the client has read enough of what was written to it (at once when it has)."""
        if not self._writable.is_set():
            await self._writable.wait()

    def close(self) -> None:
        """The connection is ending: wake every task waiting to write, and read whatever still comes."""
        self._released = True
        self._writable.set()
        for reason in list(self._holds):
            self.release(reason)
