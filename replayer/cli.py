"""`rec replay`; the server is imported only when the command runs."""

from __future__ import annotations

import typer


def replay() -> None:
    """Serve cassettes as a mock Responses API server."""
    typer.echo("rec replay: not built yet", err=True)
    raise typer.Exit(2)
