"""Which cassettes `rec diff` compares: two folders paired by relative path, or a git revision and the work tree.

A cassette is a `*.mpk` file. With `--git REV PATH...`, the cassettes under each PATH in the
working tree (committed or not, but not those .gitignore leaves out) are paired with the same
paths at REV, read with one `git cat-file --batch` into a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".mpk"


class SourceError(ValueError):
    """Cassettes that cannot be found or read from git; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """One pair to compare: its path relative to the folders, and the file on each side (None: not there)."""

    path: str
    old: Path | None
    new: Path | None
    old_name: str
    new_name: str


def cassettes_in(folder: Path) -> dict[str, Path]:
    """Every cassette under ``folder``, by its path relative to it (with /), in order."""
    return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob(f"*{SUFFIX}"))
            if path.is_file() and ".git" not in path.relative_to(folder).parts}


def paired(old: dict[str, Path], new: dict[str, Path], old_name: str, new_name: str) -> list[Source]:
    return [Source(path, old.get(path), new.get(path), f"{old_name}{path}" if path in old else "",
                   f"{new_name}{path}" if path in new else "") for path in sorted(old.keys() | new.keys())]


def folder_pairs(old: Path, new: Path) -> list[Source]:
    return paired(cassettes_in(old), cassettes_in(new), f"{old.as_posix().rstrip('/')}/",
                  f"{new.as_posix().rstrip('/')}/")


def _git(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise SourceError("--git needs git, and it is not on PATH") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SourceError(f"git {args[0]}: {message[-1] if message else f'exit status {done.returncode}'}")
    return done.stdout


def _blobs(workdir: Path, commit: str, paths: list[str], into: Path) -> dict[str, Path]:
    """The files at ``commit`` (paths from the repository's top) written under ``into``."""
    if not paths:
        return {}
    out = _git(["cat-file", "--batch"], workdir, "".join(f"{commit}:{p}\n" for p in paths).encode())
    written: dict[str, Path] = {}
    at = 0
    for path in paths:
        header_end = out.index(b"\n", at)
        _, kind, size = out[at:header_end].decode().split(" ")
        if kind != "blob":
            raise SourceError(f"{commit}:{path} is a {kind}, not a file")
        start = header_end + 1
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(out[start:start + int(size)])
        written[path] = target
        at = start + int(size) + 1
    return written


@contextmanager
def git_pairs(rev: str, paths: Sequence[Path], workdir: Path | None = None) -> Iterator[list[Source]]:
    """The cassettes under ``paths`` (default: the current folder) at ``rev`` and in the working tree, paired.

    Paths in the pairs are relative to the repository's top. The files taken from ``rev``
    live in a temporary folder until the block ends. SourceError says what git refused.
    """
    workdir = workdir or Path.cwd()
    top = Path(_git(["rev-parse", "--show-toplevel"], workdir).decode().strip())
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
                      workdir).decode().strip()
    except SourceError:
        raise SourceError(f"--git {rev}: not a revision of this repository") from None
    wanted = list(paths) or [Path(".")]
    pathspecs = ["--", *(os.fspath(p) for p in wanted)]
    listed = _git(["ls-tree", "-r", "-z", "--name-only", "--full-name", commit, *pathspecs], workdir)
    at_rev = sorted(name for name in listed.decode().split("\0") if name.endswith(SUFFIX))
    # The work tree as git sees it: tracked files and new ones, not what .gitignore leaves out (a virtualenv's).
    listed = _git(["ls-files", "-z", "--full-name", "--cached", "--others", "--exclude-standard", *pathspecs],
                  workdir)
    here = {name: top / name for name in sorted(set(listed.decode().split("\0")))
            if name.endswith(SUFFIX) and (top / name).is_file()}
    for path in wanted:
        try:
            rel = (workdir / path).resolve().relative_to(top.resolve()).as_posix()
        except ValueError:
            raise SourceError(f"{path}: outside the repository at {top}") from None
        if not any(rel in (".", name) or name.startswith(f"{rel}/") for name in (*at_rev, *here)):
            raise SourceError(f"{path}: no cassette there, in the working tree or at {rev}")
    with tempfile.TemporaryDirectory(prefix="rec-diff-git-") as tmp:
        old = _blobs(workdir, commit, at_rev, Path(tmp))
        yield paired(old, here, f"{rev}:", "")

