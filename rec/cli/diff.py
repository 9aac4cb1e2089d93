"""`rec diff`: compare cassettes (two files, two folders, or a git revision with the work tree) for CI."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from rec.cli.errors import fail, warn

if TYPE_CHECKING:
    from rec.diff.render import Format as TextFormat
    from rec.diff.views import Part


class Format(enum.StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"
    junit = "junit"
    html = "html"


class FailOn(enum.StrEnum):
    any = "any"
    requests_changed = "requests_changed"
    regression = "regression"


def diff(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="PATH",
        help="Two cassettes, or two folders of cassettes paired by relative path (OLD, e.g. the committed ones, "
             "then NEW, e.g. a new recording); with --git, the paths to compare (default: the current folder).")]
    = None,
    git: Annotated[str | None, typer.Option(
        "--git", metavar="REV",
        help="Compare the cassettes under PATH in the working tree (NEW) with the same paths at git revision REV "
             "(OLD), e.g. what a branch re-recorded against main.")] = None,
    fmt: Annotated[Format, typer.Option(
        "--format", help="text, markdown (CI job summaries, PR comments), json (tools), junit (test reporters) or "
                         "html (one self-contained page: regressions first, each exchange's two conversations side "
                         "by side; see docs/view.md).")] = Format.text,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the output to this file instead of stdout.")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on",
        help="Exit 1 when a pair reaches this level: any (any difference), requests_changed (a request changed, "
             "a cassette on one side only, or a regression), or regression.")] = FailOn.any,
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
        help="Render a `rec replay --report` file instead of comparing cassettes (exit 1 when it shows a "
             "problem).")] = None,
) -> None:
    """Compare cassettes and judge each pair: identical, benign, requests_changed or regression.

    Exchanges are aligned by route and order, compared after normalization, and each pair of
    cassettes gets a verdict with one-line reasons, and its tokens and times. Ids, UUIDs,
    timestamps, prompt_cache_key, client_metadata and the Codex id headers are masked;
    `--ignore` and [tool.rec] in pyproject.toml (or rec.toml) add more, and [tool.rec.diff]
    tunes the rules (docs/diff.md). Exit 0 when no pair reaches --fail-on, 1 when one does,
    2 on an error.
    """
    import json

    from replayer.report import ReportError, check_report, render_report, report_has_problems

    if report is not None:
        if paths or git is not None:
            raise fail("give either cassettes to compare or --report FILE, not both")
        if fmt in (Format.junit, Format.html):
            raise fail(f"--format {fmt.value} is for comparing cassettes; a report renders as text, markdown or json "
                       "(rec view --report FILE shows it in the browser)")
        try:
            document = check_report(json.loads(report.read_text()), str(report))
        except FileNotFoundError:
            raise fail(f"{report}: no such report file") from None
        except (OSError, ValueError, ReportError) as err:
            raise fail(str(err) if isinstance(err, ReportError) else f"{report}: not a JSON report ({err})") from None
        _emit(render_report(document, fmt.value, str(report)), output)
        raise typer.Exit(1 if report_has_problems(document) else 0)
    if requests_only and responses_only:
        raise fail("--requests-only and --responses-only exclude each other")
    paths = paths or []
    if git is None and len(paths) != 2:
        raise fail("give two cassettes or two folders to compare (rec diff OLD NEW), --git REV [PATH...], "
                   "or --report FILE")
    _compare(paths, git, fmt, fail_on, ignore or [], mask or [],
             ("request",) if requests_only else ("response",) if responses_only else ("request", "response"), output)


def _emit(text: str, output: Path | None) -> None:
    """The rendered document on stdout, or in ``output`` (a line on stderr says where)."""
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror}") from None
    typer.echo(f"rec diff: wrote {output} ({len(text.encode()) // 1024} KiB)", err=True)


def _compare(paths: list[Path], git: str | None, fmt: Format, fail_on: FailOn, ignore: list[str], masks: list[str],
             parts: tuple[Part, ...], output: Path | None) -> None:
    from rec.cassette import CassetteError, load_cassette
    from rec.config import ConfigError, load_diff_settings, load_normalizer
    from rec.diff import render
    from rec.diff.compare import compare_exchanges
    from rec.diff.report import Report, compare_sources, fails
    from rec.diff.rules import Rules
    from rec.diff.sources import Source, SourceError, folder_pairs, git_pairs
    from rec.normalize import MaskTimeoutError

    # The renderers of rec.diff write every format but html, which is a page and never reaches them.
    text_format = cast("TextFormat", fmt.value)

    def rendered(result: Report, sources: list[Source]) -> str:
        """The report in the chosen format; html reads the cassettes again, while ``sources`` still exist."""
        if fmt is Format.html:
            from rec.view.build import page
            from rec.view.diffs import diff_page_data

            return page(diff_page_data(result, sources, fail_on.value))
        return render.render_report(result, text_format, fail_on.value, priced)

    try:
        normalizer = load_normalizer(ignore, masks=masks)
        rules = Rules.from_settings(load_diff_settings())
    except ConfigError as err:
        raise fail(str(err)) from None
    priced = bool(rules.prices)
    try:
        if git is None and not (paths[0].is_dir() or paths[1].is_dir()):
            old, new = load_cassette(paths[0]), load_cassette(paths[1])
            for cassette in (old, new):
                for warning in cassette.warnings():
                    warn(warning)
            pair = compare_exchanges(old.exchanges, new.exchanges, normalizer, rules, parts, str(paths[0]),
                                     str(paths[1]), paths[1].name)
            if fmt is Format.html:
                from rec.view.diffs import pair_sources

                text = rendered(Report(str(paths[0]), str(paths[1]), [pair]), pair_sources(paths[0], paths[1]))
            else:
                text = render.render_pair(pair, text_format, fail_on.value, priced)
            _emit(text, output)
            raise typer.Exit(1 if fails([pair], fail_on.value) else 0)
        if git is None:
            old_dir, new_dir = paths
            if not (old_dir.is_dir() and new_dir.is_dir()):
                file, folder = (old_dir, new_dir) if new_dir.is_dir() else (new_dir, old_dir)
                if not file.exists():
                    raise fail(f"{file}: no such file or folder")
                raise fail(f"{folder} is a folder and {file} is not: give two cassettes or two folders")
            sources, old_name, new_name = folder_pairs(old_dir, new_dir), str(old_dir), str(new_dir)
            result = compare_sources(sources, normalizer, rules, old_name, new_name, parts)
            text = rendered(result, sources) if result.pairs else ""
        else:
            with git_pairs(git, paths) as sources:
                result = compare_sources(sources, normalizer, rules, git, "working tree", parts)
                text = rendered(result, sources) if result.pairs else ""
    except (CassetteError, SourceError, MaskTimeoutError) as err:
        raise fail(str(err)) from None
    for warning in result.warnings:
        warn(warning)
    if not result.pairs:
        asked = " or ".join(map(str, paths)) if git is None else " ".join(map(str, paths)) or "."
        where = asked if git is None else f"{asked} (here or at {git})"
        raise fail(f"no cassettes (*.mpk) under {where}")
    _emit(text, output)
    raise typer.Exit(1 if fails(result.pairs, fail_on.value) else 0)
