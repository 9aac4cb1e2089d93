"""The page is one self-contained file: data embedded once and safely, nothing to fetch."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rec.cassette import load_cassette
from rec.synth.events import ev_completed, ev_response_created
from rec.synth.scenario import Scenario
from rec.view.model import page_data
from rec.view.page import render_page

HOSTILE = "</script><script>window.pwned = 1</script> {{js}} <!-- \u2028"


def embedded(page: str) -> dict:
    (block,) = re.findall(r'<script id="rec-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(block)


def test_cassette_text_cannot_close_the_data_block_or_fill_a_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "hostile.mpk"
    Scenario().sse_turn([ev_response_created("r"), ev_completed("r")],
                        request={"model": "m", "input": HOSTILE}).write(path)
    data = page_data([load_cassette(path)]).to_json()
    page = render_page(data)
    assert page.count("</script>") == 3  # the data, the vendored library, the page's script
    assert "window.pwned" in page and "<script>window.pwned" not in page
    assert embedded(page) == json.loads(json.dumps(data))
    assert embedded(page)["exchanges"][0]["detail"]["turns"][0]["input"][0]["content"][0]["text"] == HOSTILE


def test_the_page_refers_to_nothing_outside_itself(tmp_path: Path) -> None:
    path = tmp_path / "plain.mpk"
    Scenario().sse_turn([ev_response_created("r"), ev_completed("r")],
                        request={"model": "m", "input": "hi"}).write(path)
    page = render_page(page_data([load_cassette(path)]).to_json())
    assert "default-src 'none'" in page  # the page's policy forbids every fetch
    # url(#id) names a pattern inside the page itself.
    assert not re.search(r"<(link|img|iframe)\b|\bsrc\s*=|@import|url\((?!#)", page)
    assert "{{" not in page.split('<script id="rec-data"')[0]
