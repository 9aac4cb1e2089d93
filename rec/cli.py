"""The `rec` command line: a thin typer layer over library functions that tests call directly.

Each subcommand's module imports only typer and the standard library at the top, so
`rec replay` starts fast and never loads mitmproxy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rec import __version__
from rec.diff_cli import diff
from recorder.cli import record
from replayer.cli import replay
from replayer.synth_cli import synth

app = typer.Typer(
    name="rec",
    help="Record and replay OpenAI Responses API traffic (HTTP, SSE and WebSocket) for tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error for the user and return the Exit to raise."""
    typer.echo(f"rec: error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def show(
    file: Annotated[Path, typer.Argument(help="The cassette to show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Every exchange as JSON (bytes as UTF-8 text, "
                                          "or {\"$base64\": ...} where not valid UTF-8).")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=0,
                                              help="Show only the first N exchanges (reads no further).")] = None,
) -> None:
    """Show a cassette's exchanges as a table (or as JSON with --json)."""
    from itertools import islice

    from rec.cassette import CassetteError, CassetteReader
    from rec.show import describe_header, render_json, render_table, summary_row

    try:
        reader = CassetteReader(file)
    except CassetteError as err:
        raise fail(str(err)) from None
    with reader:
        exchanges = islice(reader, limit) if limit is not None else iter(reader)
        if as_json:
            for piece in render_json(reader.header, exchanges):
                sys.stdout.write(piece)
        else:
            rows = [summary_row(i, exchange) for i, exchange in enumerate(exchanges)]
            typer.echo(describe_header(reader.header))
            typer.echo(render_table(rows))
            typer.echo(f"{len(rows)} exchange(s)" + (" shown" if limit is not None else ""))
        if reader.damage is not None:
            typer.echo(f"rec: warning: {file}: {reader.damage.describe()}; showing the "
                       "whole exchanges before it", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Record and replay OpenAI Responses API traffic for tests."""


app.command(help="Record traffic through a proxy to an upstream, into a cassette.")(record)
app.command(help="Serve cassettes as a mock Responses API server.")(replay)
app.command(help="Build a cassette from a scenario of ev_* builders, without recording.")(synth)
app.command(help="Compare two cassettes (or a replay report) for CI.")(diff)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
