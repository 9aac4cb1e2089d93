"""The `rec` command line: one thin typer module per command over library functions tests call directly.

Every command module imports only typer and the standard library at the top, so
`rec --help` and `rec replay` start fast and never load mitmproxy.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rec import __version__
from rec.cli.check import check
from rec.cli.diff import diff
from rec.cli.git_setup import git_setup
from rec.cli.record import record
from rec.cli.replay import replay
from rec.cli.serve import serve
from rec.cli.show import show
from rec.cli.synth import synth
from rec.cli.view import view

app = typer.Typer(
    name="rec",
    help="Record and replay OpenAI Responses API traffic (HTTP, SSE and WebSocket) for tests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich markup would eat `[tool.rec]`, and its boxes cut long option help at 80 columns.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


# Each command's help is its docstring: the first line in `rec --help`, the whole in `rec CMD --help`.
for command in (record, replay, serve, synth, diff, check, show, view):
    app.command()(command)
app.command(name="git-setup")(git_setup)


def main() -> None:
    app()
