"""What `rec view` shows, put together: cassettes read, a replay report laid over them, the page rendered."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from rec.cassette import load_cassette
from rec.view.model import PageData, page_data
from rec.view.page import render_page
from rec.view.report import attach_report
from replayer.report import ReportError, check_report


class ViewError(Exception):
    """Input `rec view` cannot show; the message is one line for the user."""


def load_report(path: str | os.PathLike[str]) -> dict:
    """A `rec replay --report` document, checked; ViewError says what is wrong with the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ViewError(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ViewError(f"{path}: not a JSON report ({err})") from None
    try:
        return check_report(document, str(path))
    except ReportError as err:
        raise ViewError(str(err)) from None


def build(cassettes: Sequence[str | os.PathLike[str]], report: str | os.PathLike[str] | None = None
          ) -> tuple[PageData, list[str]]:
    """The page's data and the warnings to tell the user (a cut cassette, a report that names other exchanges).

    Without cassettes, a report's own list of cassettes is read. CassetteError is raised for a file
    that is not a cassette.
    """
    document = load_report(report) if report is not None else None
    paths = list(cassettes)
    if not paths and document is not None:
        paths = [Path(p) for p in document.get("cassettes", []) if isinstance(p, str)]
        if not paths:
            raise ViewError(f"{report}: the report names no cassettes; give them after `rec view`")
    if not paths:
        raise ViewError("give cassettes to show (rec view FILE...), or --report FILE")
    loaded = [load_cassette(path) for path in paths]
    warnings = [warning for cassette in loaded for warning in cassette.warnings()]
    data = page_data(loaded)
    if document is not None:
        warnings += attach_report(data, document, str(report))
    return data, warnings


def page(data: PageData) -> str:
    return render_page(data.to_json())
