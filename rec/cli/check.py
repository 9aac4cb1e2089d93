"""`rec check`: the CI gate for a folder of cassettes."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rec.cli.errors import fail

if TYPE_CHECKING:
    from rec.check import CheckReport


class Format(enum.StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


def check(
    paths: Annotated[list[Path], typer.Argument(help="Cassettes, or folders searched for *.mpk.", show_default=False)],
    fmt: Annotated[Format, typer.Option("--format", help="text, markdown (CI summaries, PR comments) or json.")]
        = Format.text,
    max_age: Annotated[str | None, typer.Option(
        metavar="AGE", help="Report cassettes older than this (90d, 12h, 2w); default `max_age` in [tool.rec].")]
        = None,
    on_expiry: Annotated[str | None, typer.Option(
        metavar="ACTION", help="warn, fail or rerecord: whether a stale cassette fails the check; default "
                               "`on_expiry` in [tool.rec], else warn.")] = None,
    redact: Annotated[list[str] | None, typer.Option(
        metavar="RULE", help="Also find what these rec record --redact rules would redact: header:NAME or "
                             "regex:PATTERN (repeatable).")] = None,
) -> None:
    """Check cassettes: well-formed streams, no secrets, not stale, no outsized exchanges.

    Exit 0 when clean (or only warnings), 1 with findings, 2 on an error (a missing path, a
    file that is not a cassette, a bad option). Each finding names the cassette, the
    exchange (as rec show numbers it), and what to do. See docs/check.md.
    """
    import json
    import re

    from rec.cassette import CassetteError
    from rec.check import CheckOptions, check_paths
    from rec.check.age import parse_max_age, parse_on_expiry
    from rec.check.rules import SECRET_HEADERS
    from rec.config import ConfigError, find_settings

    try:
        found = find_settings()
        settings = found[1] if found else {}
        age = max_age or settings.get("max_age")
        options = CheckOptions(max_age=parse_max_age(age) if age else None,
                               on_expiry=parse_on_expiry(on_expiry or settings.get("on_expiry", "warn")))
        patterns, headers = [], set(SECRET_HEADERS)
        for rule in redact or []:
            kind, _, value = rule.partition(":")
            if kind == "header" and value:
                headers.add(value.lower())
            elif kind == "regex" and value:
                patterns.append(re.compile(value.encode()))
            else:
                raise ValueError(f"--redact {rule!r}: use header:NAME or regex:PATTERN")
        options = CheckOptions(options.max_age, options.on_expiry, patterns, frozenset(headers))
        report = check_paths(paths, options)
    except (ValueError, re.error, ConfigError, CassetteError) as err:
        raise fail(str(err)) from None
    if fmt is Format.json:
        typer.echo(json.dumps({"clean": not report.failed, "findings": [f.to_json() for f in report.findings],
                               "sizes": report.sizes}, indent=2))
    elif fmt is Format.markdown:
        typer.echo(_markdown(report))
    else:
        typer.echo(_text(report))
    raise typer.Exit(1 if report.failed else 0)


def _where(cassette: str, exchange: int | None) -> str:
    return cassette + (f" #{exchange}" if exchange is not None else "")


def _text(report: CheckReport) -> str:
    lines = [f"{_where(f.cassette, f.exchange)}: {f.rule}: {f.message}; {f.fix}" + ("" if f.fails else " (warning)")
             for f in report.findings]
    total = sum(report.sizes.values())
    failing = sum(f.fails for f in report.findings)
    lines.append(f"rec check: {len(report.sizes)} cassette(s), {total} bytes; {failing} finding(s)"
                 + (f", {len(report.findings) - failing} warning(s)" if len(report.findings) > failing else ""))
    return "\n".join(lines)


def _markdown(report: CheckReport) -> str:
    icon = "❌" if report.failed else "✅"
    lines = [f"### {icon} rec check: {len(report.sizes)} cassette(s), {len(report.findings)} finding(s)", ""]
    if report.findings:
        lines += ["| cassette | exchange | rule | finding | what to do |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{f.cassette}` | {'' if f.exchange is None else f.exchange} | {f.rule} | {f.message} | {f.fix} |"
                  for f in report.findings]
    biggest = sorted(report.sizes.items(), key=lambda item: -item[1])[:5]
    lines += ["", "Largest cassettes: " + ", ".join(f"`{name}` {size} B" for name, size in biggest)]
    return "\n".join(lines)
