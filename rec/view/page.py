"""One self-contained HTML page: the template with its styles, scripts and the data inlined once.

The data goes in a ``<script type="application/json">`` block, with every ``<`` written as
``\\u003c`` so no string in a cassette can close the block or open a tag.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from typing import Any

import orjson

_ASSETS = resources.files("rec.view") / "assets"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def embedded_json(data: Any) -> str:
    """JSON safe inside a script block: ``<`` escaped, as are the line separators some parsers stumble on."""
    text = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(data: dict[str, Any]) -> str:
    """The page for page data (``PageData.to_json()``): one string, opened from disk or served as is."""
    parts = {
        "title": html.escape(str(data.get("title") or "rec view")),
        "css": _asset("view.css"),
        "vendor": _asset("vendor/json-formatter.umd.js"),
        "js": _asset("view.js"),
        "data": embedded_json(data),
    }
    # One pass over the template: text put in (a cassette's strings) is never scanned for placeholders.
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], _asset("page.html"))
