"""`rec record`; the recorder itself is imported only when the command runs."""

from __future__ import annotations

import typer


def record() -> None:
    """Record traffic through a proxy to an upstream, into a cassette."""
    typer.echo("rec record: not built yet", err=True)
    raise typer.Exit(2)
