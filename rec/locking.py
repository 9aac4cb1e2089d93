"""One writer per cassette at a time: an exclusive lock every writer of a cassette takes.

The lock is a hidden file beside the cassette (``.NAME.lock``) holding the writer's process
id, locked with ``flock``: the kernel releases it when the process ends however it ends, so a
lock left by a killed writer never blocks the next one. The file is removed on release; a
writer that finds the file it locked already gone (removed by the previous holder) takes a
fresh one, so two writers never both believe they hold it.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType


class CassetteLocked(Exception):
    """Another process is writing the cassette; the message names it and the process."""


class CassetteLock:
    """The exclusive lock on one cassette: ``with CassetteLock(path):`` (waits), or ``acquire(wait=False)``."""

    def __init__(self, cassette: str | os.PathLike[str]) -> None:
        target = Path(cassette)
        self.cassette = target
        self.path = target.with_name(f".{target.name}.lock")
        self._fd: int | None = None

    def acquire(self, wait: bool = True) -> CassetteLock:
        """Take the lock, waiting for the holder; with ``wait`` False, CassetteLocked when it is held."""
        import fcntl  # POSIX only, and only when something writes

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise CassetteLocked(f"{self.cassette} is being written by process {holder} (another rec record, "
                                     "or a test recording it); stop that one, or write another file") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the previous holder removed the file we waited on: lock the one there now
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        # Removed while still held, so nobody can lock the old file after we let go of it.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> CassetteLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
