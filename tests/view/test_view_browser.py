"""The page in a real browser: headless Chromium (Debian's package) driven by Playwright, offline.

Every case opens the page from disk or from `rec view`'s server, checks what a person
would look at (the conversation, the tool calls, the timeline), proves that no request
left the page and that no script failed, and keeps a screenshot in the test's folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from rec.view.build import build, page
from rec.view.page import render_page
from rec.view.server import PageServer
from tests.view import cassettes
from tests.view.test_diffs import page_data

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no GPU, no QUIC, none of the browser's own calls home.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}; `make install` installs it "
                    "(apt-get install chromium)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


@dataclass
class Visit:
    page: Page
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@contextmanager
def visit(browser: Browser, url: str, screenshot: Path) -> Iterator[Visit]:
    """Open ``url`` with every request to anywhere but the page itself aborted and noted; on the way out, take
    the screenshot, then check that nothing was blocked and that the console shows no error."""
    own = url.split("#")[0] if url.startswith("file:") else re.sub(r"^(http://127\.0\.0\.1:\d+/).*", r"\1", url)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, service_workers="block")
    seen = Visit(context.new_page())

    def guard(route: Route) -> None:
        if route.request.url.startswith(own):
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    seen.page.on("request", lambda request: seen.requests.append(request.url))
    seen.page.on("console", lambda message: seen.problems.append(f"console {message.type}: {message.text}")
                 if message.type in ("error", "warning") else None)
    seen.page.on("pageerror", lambda error: seen.problems.append(f"page error: {error}"))
    try:
        seen.page.goto(url)
        seen.page.wait_for_selector("body[data-ready]")
        yield seen
        seen.page.screenshot(path=str(screenshot))
    finally:
        context.close()
    assert seen.blocked == []
    assert [r for r in seen.requests if not r.startswith(own)] == []
    assert seen.problems == []


def write_page(tmp_path: Path, name: str, *cassette_paths: Path, report: Path | None = None) -> str:
    data, _ = build(list(cassette_paths), report)
    target = tmp_path / f"{name}.html"
    target.write_text(page(data), encoding="utf-8")
    return target.as_uri()


def choose(page: Page, number: int) -> None:
    page.locator(".list .row", has=page.locator(".num", has_text=re.compile(rf"^#{number}$"))).click()


def test_a_codex_session_opened_from_disk(browser: Browser, tmp_path: Path, codex_cassette: Path) -> None:
    with visit(browser, write_page(tmp_path, "codex", codex_cassette), tmp_path / "codex-session.png") as seen:
        page = seen.page
        expect(page.locator(".list .row")).to_have_count(5)
        expect(page.locator(".exchange-head .route")).to_have_text("POST /v1/responses")
        # The conversation: what the user asked, the reasoning, the tool call with its arguments pretty-printed.
        expect(page.locator(".msg-user")).to_contain_text(cassettes.PROMPT)
        expect(page.locator("details.instructions")).not_to_have_attribute("open", "")
        expect(page.locator(".item-reasoning")).to_contain_text("Reading the file first")
        expect(page.locator(".turn-output .item-call .call-name")).to_have_text("shell_command")
        expect(page.locator(".turn-output .item-call pre")).to_have_text(
            '{\n  "command": "cat hello.py",\n  "workdir": "/repo"\n}')
        # The stream: the request and six events on the timeline and in the table, the marks in the legend.
        expect(page.locator("svg.timeline rect.tick")).to_have_count(7)
        expect(page.locator("svg.timeline rect.tick.cat-client")).to_have_count(1)
        expect(page.locator(".event-row")).to_have_count(7)
        expect(page.locator(".legend")).to_contain_text("first event 0 ms")
        expect(page.locator(".legend")).to_contain_text("total 175 ms")
        page.locator("svg.timeline rect.tick").nth(5).click()
        expect(page.locator(".raw-panel .raw-title")).to_contain_text("response.output_item.done")
        expect(page.locator(".raw-panel .json")).to_contain_text("call_sh_1")
        # Redacted headers are shown as such.
        expect(page.locator("tr.is-redacted").first).to_contain_text("authorization")
        expect(page.locator("tr.is-redacted .redacted").first).to_have_text("redacted")
        page.screenshot(path=str(tmp_path / "codex-session-first.png"), full_page=True)
        # The patch, then the web search and the answer.
        choose(page, 1)
        expect(page.locator(".turn-output .item-call .call-name")).to_have_text("apply_patch")
        expect(page.locator(".turn-output .item-call pre")).to_have_text(cassettes.PATCH)
        expect(page.locator(".turn-input .item-output")).to_contain_text("print('hi')")
        choose(page, 2)
        expect(page.locator(".turn-output .item-search")).to_contain_text("python print greeting idiom")
        expect(page.locator(".turn-output .msg-assistant")).to_have_text(re.compile(re.escape(cassettes.ANSWER)))
        choose(page, 3)
        expect(page.locator(".item-compaction")).to_contain_text("encrypted, 12 characters")
        page.locator("#filter").fill("models")
        expect(page.locator("#list-count")).to_have_text("1 of 5")
        expect(page.locator(".list .row")).to_have_count(1)


def test_a_websocket_with_two_turns(browser: Browser, tmp_path: Path) -> None:
    path = cassettes.write(cassettes.websocket_two_turns(), tmp_path, "ws")
    with visit(browser, write_page(tmp_path, "ws", path), tmp_path / "websocket.png") as seen:
        page = seen.page
        expect(page.locator(".turn")).to_have_count(2)
        expect(page.locator(".turn-no")).to_have_text(["turn 0", "turn 1"])
        expect(page.locator(".chip-warm")).to_have_text("prewarm (generate: false)")
        expect(page.locator(".msg-assistant")).to_contain_text("Hello over the socket.")
        expect(page.locator("svg.timeline rect.tick.cat-client")).to_have_count(2)
        expect(page.locator("svg.timeline rect.tick")).to_have_count(10)
        expect(page.locator(".legend")).to_contain_text("turn 1: first event 1 ms")
        expect(page.locator(".legend")).to_contain_text("close 1000 by client")
        expect(page.locator("svg.timeline line.mark-line-close")).to_have_count(1)
        page.get_by_role("button", name="in order").click()
        expect(page.locator("svg.timeline .tick-label").first).to_have_text("#0 · 0 ms")


def test_a_cut_stream_shows_the_gap_the_cut_and_the_partial_answer(browser: Browser, tmp_path: Path) -> None:
    path = cassettes.write(cassettes.cut_stream(), tmp_path, "cut")
    failures = cassettes.write(cassettes.failures(), tmp_path, "failures")
    with visit(browser, write_page(tmp_path, "cut", path, failures), tmp_path / "cut-stream.png") as seen:
        page = seen.page
        expect(page.locator(".list .row .outcome")).to_have_text([
            "⚠ cut at 1560 ms: stream closed after 4 event(s)", "error: rate_limit_exceeded",
            "failed: server_error", "⚠ no response: upstream_unreachable"])
        expect(page.locator(".exchange-head .problem-banner")).to_contain_text("cut at 1560 ms")
        expect(page.locator("svg.timeline line.mark-line-cut")).to_have_count(1)
        expect(page.locator("svg.timeline rect.gap-band")).to_have_count(1)
        expect(page.locator(".legend .mark-line-gap")).to_have_text("gap 1520 ms")
        expect(page.locator(".msg-assistant")).to_contain_text(cassettes.CUT_TEXT.strip())
        expect(page.locator(".msg-assistant .partial-badge")).to_have_text("partial")
        page.screenshot(path=str(tmp_path / "cut-stream-cut.png"))
        choose(page, 1)
        expect(page.locator(".turn .error-box")).to_contain_text("rate_limit_exceeded")
        choose(page, 2)
        expect(page.locator(".turn .error-box")).to_contain_text("the model broke")
        choose(page, 3)
        expect(page.locator(".exchange-head .problem-banner")).to_have_text("⚠ no response: upstream_unreachable")
        expect(page.locator(".headers").nth(1)).to_contain_text("none")


def test_ten_thousand_exchanges_render_only_what_is_in_sight(browser: Browser, tmp_path: Path) -> None:
    path = cassettes.write(cassettes.many_exchanges(10_000), tmp_path, "many")
    with visit(browser, write_page(tmp_path, "many", path), tmp_path / "ten-thousand.png") as seen:
        page = seen.page
        expect(page.locator("#list-count")).to_have_text("10,000 exchanges")
        assert 5 < page.locator(".list .row").count() < 80
        page.locator("#filter").fill("question number 9876")
        expect(page.locator("#list-count")).to_have_text("1 of 10,000")
        page.locator(".list .row").click()
        expect(page.locator(".msg-user")).to_have_text(re.compile("question number 9876"))
        expect(page.locator(".msg-assistant")).to_contain_text("Answer 9876.")
        page.locator("#filter").fill("")
        expect(page.locator("#list-count")).to_have_text("10,000 exchanges")
        page.locator("#list").evaluate("list => list.scrollTop = list.scrollHeight")
        expect(page.locator(".list .row .num", has_text=re.compile("^#9999$"))).to_be_visible()
        assert page.locator(".list .row").count() < 80


def test_the_served_page(browser: Browser, tmp_path: Path, codex_cassette: Path) -> None:
    data, _ = build([codex_cassette])
    with PageServer(page(data)) as server, visit(browser, server.url + "#x=1", tmp_path / "served.png") as seen:
        expect(seen.page.locator(".exchange-head .num")).to_have_text("#1")
        expect(seen.page.locator(".turn-output .item-call .call-name")).to_have_text("apply_patch")
        expect(seen.page.locator("svg.timeline rect.tick")).to_have_count(4)
    assert seen.requests == [server.url]  # the page itself, and nothing else


def test_a_replay_report(browser: Browser, tmp_path: Path, codex_cassette: Path, replay_report: Path) -> None:
    url = write_page(tmp_path, "report", codex_cassette, report=replay_report)
    with visit(browser, url, tmp_path / "replay-report.png") as seen:
        page = seen.page
        expect(page.locator(".overview .verdict")).to_have_text("problems")
        expect(page.locator(".overview .note-violation")).to_contain_text("call_nowhere")
        expect(page.locator(".list .row").first.locator(".mark")).to_have_text(["served", "drifted"])
        expect(page.locator(".list .row .mark-unused")).to_have_count(4)
        page.locator(".overview-row").first.click()
        expect(page.locator(".exchange-head .num")).to_have_text("#0")
        changed = page.locator("table.sbs tr.op-replace")
        expect(changed).to_have_count(1)
        expect(changed.locator("td.left")).to_contain_text('"text": "Add a greeting to hello.py"')
        expect(changed.locator("td.right")).to_contain_text('"text": "Add a friendly greeting to hello.py"')
        page.screenshot(path=str(tmp_path / "replay-report-drift.png"))


def test_a_regression_report_of_two_folders(browser: Browser, tmp_path: Path) -> None:
    target = tmp_path / "diff.html"
    target.write_text(render_page(page_data(tmp_path)), encoding="utf-8")
    with visit(browser, target.as_uri(), tmp_path / "diff.png") as seen:
        page = seen.page
        # Regressions first, each pair with its verdict and first reason; the top bar sums them up.
        expect(page.locator(".list .row .verdict-badge")).to_have_text([
            "regression", "regression", "only old", "only new", "benign", "identical"])
        expect(page.locator(".list .row .route").first).to_have_text("failed.mpk")
        expect(page.locator("#report-summary")).to_contain_text("fails on regression")
        page.locator(".list .row", has_text="renamed.mpk").click()
        expect(page.locator(".pair-head .reason").first).to_contain_text("tool call 1 renamed shell → python")
        # The first changed exchange opens side by side, the renamed call highlighted on both sides.
        sides = page.locator(".sides .side-col")
        expect(sides).to_have_count(2)
        expect(sides.nth(0).locator(".item-call.diff-changed .call-name")).to_have_text("shell")
        expect(sides.nth(1).locator(".item-call.diff-changed .call-name")).to_have_text("python")
        expect(sides.nth(1).locator(".msg-user")).to_contain_text("List the files here")
        page.screenshot(path=str(tmp_path / "diff-renamed.png"), full_page=True)
        # The failed answer: its status highlighted; the longer answer: its token delta.
        page.locator(".list .row", has_text="failed.mpk").click()
        expect(sides.nth(1).locator(".status-chip.diff-changed")).to_have_text("failed")
        page.locator(".list .row", has_text="longer.mpk").click()
        expect(page.locator(".list .row.selected .token-delta")).to_have_text("Δ tokens +22")
        expect(page.locator(".pair-exchange.selected .token-delta")).to_have_text("Δ tokens +22")
