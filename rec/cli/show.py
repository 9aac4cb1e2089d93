"""`rec show`: a cassette's exchanges as a table, or every exchange as JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rec.cli.errors import fail, warn


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
    from rec.show import Totals, describe_header, render_json, render_table, summary_row

    try:
        reader = CassetteReader(file)
    except CassetteError as err:
        raise fail(str(err)) from None
    with reader:
        exchanges = islice(reader, limit) if limit is not None else iter(reader)
        try:
            if as_json:
                for piece in render_json(reader.header, exchanges):
                    sys.stdout.write(piece)
            else:
                rows, totals = [], Totals()
                for i, exchange in enumerate(exchanges):
                    rows.append(summary_row(i, exchange))
                    totals.add(exchange)
                typer.echo(describe_header(reader.header))
                typer.echo(render_table(rows))
                typer.echo(totals.line())
                typer.echo(f"{len(rows)} exchange(s)" + (" shown" if limit is not None else ""))
        except CassetteError as err:  # a record of the wrong shape, found as it is read
            sys.stdout.flush()
            raise fail(str(err)) from None
        if reader.damage is not None:
            warn(f"{file}: {reader.damage.describe()}; showing the whole exchanges before it")
