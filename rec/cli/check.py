"""`rec check`: the CI gate for a folder of cassettes (the rules live in rec.check)."""

from __future__ import annotations

import enum
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from rec.cli.errors import fail

if TYPE_CHECKING:
    from rec.check import CheckOptions


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
        metavar="ACTION", help="What a stale cassette does: warn (passes), fail, or rerecord (passes, reported "
                               "for recording again); default `on_expiry` in [tool.rec], else warn.")] = None,
    redact: Annotated[list[str] | None, typer.Option(
        metavar="RULE", help="Also find what this rec record --redact rule would redact: header:NAME, json:PATH "
                             "or regex:PATTERN; allow:PATTERN leaves a known false positive out (repeatable).")]
        = None,
) -> None:
    """Check cassettes for CI: well-formed streams, no secrets, not stale, no outsized exchanges.

    Exit 0 when clean (warnings only), 1 with findings, 2 on an error (a missing path, a
    file that is not a cassette, a bad option). Each finding names the cassette, the
    exchange (#N, as rec show numbers it), the rule, and what to do. Many cassettes are checked on
    every CPU; on a terminal, a line shows how far a long run got. See docs/check.md.
    """
    from rec.cassette import CassetteError
    from rec.check import check_paths
    from rec.check.render import render_json, render_markdown, render_text

    options = _options(max_age, on_expiry, redact or [])
    progress = Progress(sys.stderr)
    try:
        report = check_paths(paths, options, workers=len(os.sched_getaffinity(0)), progress=progress)
    except (ValueError, CassetteError) as err:
        progress.clear()
        raise fail(str(err)) from None
    progress.clear()
    render = {Format.text: render_text, Format.markdown: render_markdown, Format.json: render_json}[fmt]
    typer.echo(render(report))
    raise typer.Exit(1 if report.failed else 0)


class Progress:
    """``rec check: 1,234/10,000 cassettes`` on one line of a terminal, from a second into a run, redrawn at most
    ten times a second; nothing where the output is not a terminal (a CI log)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self._started = time.monotonic()
        self._drawn = self._started
        self._on_terminal = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self._on_terminal or now - self._started < 1.0 or (now - self._drawn < 0.1 and done < total):
            return
        self._drawn = now
        self.stream.write(f"\rrec check: {done:,}/{total:,} cassettes")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Take the progress line off the terminal, so what follows starts on a clean line."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


def _options(max_age: str | None, on_expiry: str | None, redact: list[str]) -> CheckOptions:
    """The options from the command line over `[tool.rec]`; a bad value is a one-line error naming where it is."""
    from rec.check import CheckOptions
    from rec.check.age import parse_max_age, parse_on_expiry
    from rec.config import ConfigError, find_settings
    from rec.redaction import RedactionRuleError, Rules

    try:
        found = find_settings()
    except ConfigError as err:
        raise fail(str(err)) from None
    source, settings = found if found is not None else (None, {})

    def given(value: str | None, flag: str, key: str) -> tuple[str | None, str]:
        """The value to use and where it came from: the flag, else the settings file's key."""
        if value is None and key in settings:
            return str(settings[key]), f"{source}: `{key}`"
        return value, flag

    age_text, age_from = given(max_age, "--max-age", "max_age")
    expiry_text, expiry_from = given(on_expiry, "--on-expiry", "on_expiry")
    try:
        age = parse_max_age(age_text) if age_text is not None else None
    except ValueError as err:
        raise fail(f"{age_from}: {err}") from None
    try:
        expiry = parse_on_expiry(expiry_text) if expiry_text is not None else "warn"
    except ValueError as err:
        raise fail(f"{expiry_from}: {err}") from None
    try:
        rules = Rules().with_rules(redact)
    except RedactionRuleError as err:
        raise fail(f"--redact: {err}") from None
    return CheckOptions(max_age=age, on_expiry=expiry, redact=rules)
