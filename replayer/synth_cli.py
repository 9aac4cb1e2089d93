"""`rec synth`: build a cassette from a scenario file."""

from __future__ import annotations

import typer


def synth() -> None:
    """Build a cassette from a scenario of ev_* builders, without recording."""
    typer.echo("rec synth: not built yet", err=True)
    raise typer.Exit(2)
