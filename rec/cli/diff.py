"""`rec diff`: compare two cassettes (or render a replay report) for CI."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Literal

import typer

from rec.cli.errors import fail, warn


class Format(enum.StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"



def diff(
    a: Annotated[Path | None, typer.Argument(help="The cassette to compare from (e.g. the committed one).")] = None,
    b: Annotated[Path | None, typer.Argument(help="The cassette to compare to (e.g. a new recording).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, markdown (CI summaries, PR comments) or json.")]
        = Format.text,
    requests_only: Annotated[bool, typer.Option("--requests-only", help="Compare only the requests.")] = False,
    responses_only: Annotated[bool, typer.Option("--responses-only", help="Compare only the responses.")] = False,
    ignore: Annotated[list[str] | None, typer.Option(
        metavar="PATH",
        help="A JSON path left out of request bodies, e.g. 'input[*].id' (repeatable; adds to the defaults "
             "and [tool.rec]).")] = None,
    mask: Annotated[list[str] | None, typer.Option(
        metavar="REGEX",
        help="A regular expression masked in every string of a body before comparing (repeatable; adds to "
             "the defaults and to `mask` in the project's rec settings). Never changes what is served.")]
    = None,
    report: Annotated[Path | None, typer.Option(
        help="Render a `rec replay --report` file instead of comparing two cassettes.")] = None,
) -> None:
    """Compare two cassettes exchange by exchange after normalization. Exit 0 equal, 1 different, 2 error.

    Ids, UUIDs, timestamps, prompt_cache_key, client_metadata and the Codex id headers are
    masked; `--ignore` and `[tool.rec]` in pyproject.toml (or rec.toml) add more.
    """
    import json

    from rec.cassette import CassetteError, load_cassette
    from rec.config import ConfigError, load_normalizer
    from rec.diff import diff_exchanges
    from replayer.report import ReportError, check_report, render_report, report_has_problems

    if report is not None:
        if a is not None or b is not None:
            raise fail("give either two cassettes or --report FILE, not both")
        try:
            document = check_report(json.loads(report.read_text()), str(report))
        except FileNotFoundError:
            raise fail(f"{report}: no such report file") from None
        except (OSError, ValueError, ReportError) as err:
            raise fail(str(err) if isinstance(err, ReportError) else f"{report}: not a JSON report ({err})") from None
        typer.echo(render_report(document, fmt.value, str(report)), nl=False)
        raise typer.Exit(1 if report_has_problems(document) else 0)
    if a is None or b is None:
        raise fail("give two cassettes to compare (rec diff A B), or --report FILE")
    if requests_only and responses_only:
        raise fail("--requests-only and --responses-only exclude each other")
    try:
        normalizer = load_normalizer(ignore or [], masks=mask or [])
        left, right = load_cassette(a), load_cassette(b)
    except (CassetteError, ConfigError) as err:
        raise fail(str(err)) from None
    for cassette in (left, right):
        for warning in cassette.warnings():
            warn(warning)
    parts: tuple[Literal["request", "response"], ...] = (
        ("request",) if requests_only else ("response",) if responses_only else ("request", "response"))
    result = diff_exchanges(left.exchanges, right.exchanges, normalizer, parts, str(a), str(b))
    from rec.diff import render_json, render_markdown, render_text

    render = {Format.text: render_text, Format.markdown: render_markdown, Format.json: render_json}[fmt]
    typer.echo(render(result), nl=False)
    raise typer.Exit(0 if result.same else 1)
