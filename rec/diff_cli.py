"""`rec diff`: compare two cassettes for CI."""

from __future__ import annotations

import typer


def diff() -> None:
    """Compare two cassettes (or a replay report) for CI."""
    typer.echo("rec diff: not built yet", err=True)
    raise typer.Exit(2)
