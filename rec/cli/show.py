"""`rec show`: a cassette's exchanges as a table, or every exchange as JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
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
    """Show a cassette's exchanges as a table (or as JSON with --json), printed as they are read."""
    from itertools import islice

    from rec.cassette import CassetteError, CassetteReader
    from rec.show import Totals, describe_header, render_json, summary_row, table_lines

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
                _print(describe_header(reader.header))
                totals, shown = Totals(), 0

                def rows() -> Iterator[list[str]]:
                    for i, exchange in enumerate(exchanges):
                        totals.add(exchange)
                        yield summary_row(i, exchange)

                for line in table_lines(rows()):
                    _print(line)  # each row as soon as it is read: `rec show big.mpk | head` returns at once
                    shown += 1
                _print(totals.line())
                _print(f"{shown - 1} exchange(s)" + (" shown" if limit is not None else ""))
        except CassetteError as err:  # a record of the wrong shape, found as it is read
            sys.stdout.flush()
            raise fail(str(err)) from None
        except BrokenPipeError:  # the reader went away (`| head`): what it wanted was printed
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush either
            raise typer.Exit(0) from None
        if reader.damage is not None:
            warn(f"{file}: {reader.damage.describe()}; showing the whole exchanges before it")


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
