"""`rec check`: what a folder of cassettes must keep true over the years (docs/check.md).

One module per rule family: ``streams`` (well-formed answers), ``secrets`` (nothing left to
redact), ``age`` (stale), ``size`` (outsized exchanges); ``bodies`` reads an answer once for the
rules that read it, ``events`` its events for the stream rules. ``check_paths`` runs them all over
the cassettes under some paths and returns a ``CheckReport``; ``rec.check.render`` shows it.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rec.cassette import CassetteReader
from rec.check.age import stale_finding
from rec.check.bodies import answer_of
from rec.check.report import CheckOptions, CheckReport, Finding
from rec.check.secrets import secret_findings
from rec.check.size import size_findings
from rec.check.streams import stream_findings

__all__ = ["CheckOptions", "CheckReport", "Finding", "cassettes_under", "check_cassette", "check_paths"]

DAMAGE_FIX = "record it again; until then rec replay serves the whole exchanges before the damage"


def cassettes_under(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """The files given, and every *.mpk under the folders given (sorted); ValueError names a missing path."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from sorted(path.rglob("*.mpk"))
        elif path.is_file():
            yield path
        else:
            raise ValueError(f"{path}: no such file or folder")


def check_cassette(path: Path, options: CheckOptions) -> list[Finding]:
    """Every rule over one cassette; rec.cassette.CassetteError when it is not a readable cassette."""
    name = str(path)
    findings: list[Finding] = []
    sizes: list[int] = []  # stored bytes per exchange, for the size rule
    with CassetteReader(path) as reader:
        start = reader.whole_bytes
        for index, exchange in enumerate(reader):
            sizes.append(reader.whole_bytes - start)
            start = reader.whole_bytes
            answer = answer_of(exchange)
            findings += stream_findings(name, index, exchange, answer)
            findings += secret_findings(name, index, exchange, options, answer)
        if reader.damage is not None:
            findings.append(Finding(name, len(sizes), "damage", reader.damage.describe(), DAMAGE_FIX))
    stale = stale_finding(path, options)
    findings += [stale] if stale is not None else []
    findings += size_findings(name, sizes)
    return findings


def check_paths(paths: Iterable[str | os.PathLike[str]], options: CheckOptions, workers: int = 1,
                progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Check every cassette under ``paths``, on ``workers`` processes (each cassette is checked alone), calling
    ``progress(done, total)`` after each. ValueError (a missing path) or rec.cassette.CassetteError (a file that
    is not a readable cassette) stop the check. Findings come in the order of the cassettes, however many check."""
    report = CheckReport()
    found = list(cassettes_under(paths))
    if workers > 1 and len(found) >= PARALLEL_FROM:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = pool.map(check_cassette, found, itertools.repeat(options), chunksize=_chunk_size(found, workers))
            try:
                _collect(report, found, results, progress)
            except BaseException:  # an unreadable cassette stops the check: the rest is not waited for
                pool.shutdown(cancel_futures=True)
                raise
    else:
        _collect(report, found, (check_cassette(path, options) for path in found), progress)
    return report


# Below this many cassettes, starting processes costs more than it saves.
PARALLEL_FROM = 64


def _chunk_size(found: list[Path], workers: int) -> int:
    """Cassettes handed to a process at a time: few trips between processes, yet every process busy to the end."""
    return max(1, min(64, len(found) // (workers * 8)))


def _collect(report: CheckReport, found: list[Path], results: Iterable[list[Finding]],
             progress: Callable[[int, int], None] | None) -> None:
    for done, (path, findings) in enumerate(zip(found, results, strict=True), 1):
        report.findings += findings
        report.sizes[str(path)] = path.stat().st_size
        if progress is not None:
            progress(done, len(found))
