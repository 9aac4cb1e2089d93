"""The one way every `rec` command reports a problem to its user: one line on stderr, then an exit code."""

from __future__ import annotations

import typer

# Bad input (arguments, files, a port in use) exits 2; 1 is kept for "ran, and found problems".
USAGE_ERROR = 2


def fail(message: str, code: int = USAGE_ERROR) -> typer.Exit:
    """Print ``rec: error: MESSAGE`` and return the Exit to raise (``raise fail(...) from None``)."""
    typer.echo(f"rec: error: {message}", err=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print ``rec: warning: MESSAGE``: something the user should know that does not stop the command."""
    typer.echo(f"rec: warning: {message}", err=True)
