"""`rec view`: cassettes (and a replay report) as one page in the browser, written to a file or served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rec.cli.errors import fail, warn


def view(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Cassettes to show, numbered across files as rec replay numbers them.", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="PAGE.html",
        help="Write the page to this file (self-contained: it opens from disk, with no network) instead of "
             "serving it.")] = None,
    port: Annotated[int | None, typer.Option(
        min=0, max=65535, metavar="PORT", help="Serve on 127.0.0.1 at this port (default: a free one).")] = None,
    report: Annotated[Path | None, typer.Option(
        metavar="FILE", help="A `rec replay --report` file: mark each exchange served, unused, drifted or "
                             "violating. Without cassettes, those the report names are shown.")] = None,
) -> None:
    """Show cassettes in the browser: the exchanges, each one's conversation and stream on a timeline.

    With -o, write one self-contained HTML file; without it, serve the same page on 127.0.0.1
    (the first line on stdout is its URL) until SIGINT or SIGTERM. See docs/view.md.
    """
    from rec.cassette import CassetteError
    from rec.view.build import ViewError, build, page

    if output is not None and port is not None:
        raise fail("give -o PAGE.html (write a file) or --port (serve), not both")
    try:
        data, warnings = build(files or [], report)
    except (CassetteError, ViewError) as err:
        raise fail(str(err)) from None
    for warning in warnings:
        warn(warning)
    html = page(data)
    if output is not None:
        try:
            output.write_text(html, encoding="utf-8")
        except OSError as err:
            raise fail(f"cannot write {output}: {err.strerror}") from None
        typer.echo(f"rec view: wrote {output} ({len(data.exchanges)} exchange(s), {len(html) // 1024} KiB)", err=True)
        return
    from rec.cli.running import run_until_signal
    from rec.view.server import PageServer

    code = run_until_signal(PageServer(html, port=port or 0))
    if code:
        raise typer.Exit(code)
