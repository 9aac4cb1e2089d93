"""`rec check`: what a folder of cassettes must keep true over the years (docs/check.md).

One module per rule family: ``streams`` (well-formed answers), ``secrets`` (nothing left to
redact), ``age`` (stale), ``size`` (outsized exchanges). ``check_paths`` runs them all over
the cassettes under some paths and returns a ``CheckReport``; ``rec.check.render`` shows it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from rec.cassette import CassetteReader
from rec.check.age import stale_finding
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
            findings += stream_findings(name, index, exchange)
            findings += secret_findings(name, index, exchange, options)
        if reader.damage is not None:
            findings.append(Finding(name, len(sizes), "damage", reader.damage.describe(), DAMAGE_FIX))
    stale = stale_finding(path, options)
    findings += [stale] if stale is not None else []
    findings += size_findings(name, sizes)
    return findings


def check_paths(paths: Iterable[str | os.PathLike[str]], options: CheckOptions) -> CheckReport:
    """Check every cassette under ``paths``. ValueError (a missing path) or rec.cassette.CassetteError (a file
    that is not a readable cassette) stop the check."""
    report = CheckReport()
    for path in cassettes_under(paths):
        report.findings += check_cassette(path, options)
        report.sizes[str(path)] = path.stat().st_size
    return report
