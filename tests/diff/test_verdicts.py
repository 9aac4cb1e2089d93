"""Verdicts: recordings of an agent's session that differ in exactly one way get the verdict and reasons expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rec.cassette import Exchange, load_cassette
from rec.config import DiffSettings, Price
from rec.diff.compare import PairResult, compare_exchanges
from rec.diff.rules import RULES, Rules
from rec.normalize import DEFAULT_NORMALIZER
from tests.diff.sessions import Session, usage

BASE = Session()
SHELL_LS = ("shell", {"command": ["ls", "-a"]})

# change -> (verdict, [(rule, reason)]): every re-recording also changes every id (run "b").
CASES: dict[str, tuple[dict[str, Any], str, list[tuple[str, str]]]] = {
    "ids only": ({}, "identical", []),
    "slower stream": (dict(delay_ms=90.0), "identical", []),
    "wording only": (dict(answer="There are 2 files."), "benign", [
        ("wording", 'exchange #1: answer text changed: "There are two files." → "There are 2 files."')]),
    "reasoning only": (dict(reasoning=["Listing the folder, carefully."]), "benign", [
        ("reasoning", "exchange #0: reasoning changed"),
        ("echo", "exchange #1: request differs only where it echoes earlier answers")]),
    "usage only": (dict(answer_tokens=usage(output=80)), "benign", [
        ("usage", "exchange #1: tokens 1,208 → 1,280")]),
    "renamed tool": (dict(calls=[("python", {"command": ["ls", "-a"]})]), "regression", [
        ("tool_call_renamed", "exchange #0: tool call 1 renamed shell → python"),
        ("echo", "exchange #1: request differs only where it echoes earlier answers")]),
    "changed arguments": (dict(calls=[("shell", {"command": ["rm", "-rf", "."]})]), "regression", [
        ("tool_arguments", 'exchange #0: tool call 1 (shell) arguments changed at command[0]: "ls" → "rm"'),
        ("echo", "exchange #1: request differs only where it echoes earlier answers")]),
    "one more tool call": (dict(calls=[SHELL_LS, ("shell", {"command": ["wc", "-l"]})]), "regression", [
        ("tool_call_added", "exchange #0: tool call 2 added: shell"),
        ("request", 'exchange #1: request changed at input[5]: (none) → {"type": "function_call_output", "call_…')]),
    "no reasoning item": (dict(reasoning=[]), "regression", [
        ("output_kinds", "exchange #0: output items changed: -reasoning"),
        ("echo", "exchange #1: request differs only where it echoes earlier answers")]),
    "failed response": (dict(answer_status="failed"), "regression", [
        ("status", "exchange #1: status completed → failed")]),
    "incomplete response": (dict(answer_status="incomplete"), "regression", [
        ("status", "exchange #1: status completed → incomplete")]),
    "HTTP 500": (dict(answer_http_status=500), "regression", [
        ("http_status", "exchange #1: HTTP status 200 → 500")]),
    "cut stream": (dict(cut_first_after=2), "regression", [("stream_end", "exchange #0: ended early: cut")]),
    "lost turn": (dict(answered=False), "regression", [("exchange_gone", "exchange #1: POST /v1/responses gone")]),
    "changed prompt": (dict(prompt="List the files."), "requests_changed", [
        ("request", 'exchange #0: request changed at input[0].content[0].text: "List the files here, then say how '
                    'many… → "List the files."'),
        ("request", 'exchange #1: request changed at input[0].content[0].text: "List the files here, then say how '
                    'many… → "List the files."')]),
    "changed tool output": (dict(listing="a.txt\n"), "requests_changed", [
        ("request", 'exchange #1: request changed at input[3].output: "a.txt\\nb.txt\\n" → "a.txt\\n"')]),
    "WebSocket turn reworded": (dict(ws_answer="Hi over the WebSocket."), "benign", [
        ("wording", 'exchange #3 turn 2: answer text changed: "Hello over the WebSocket." → '
                    '"Hi over the WebSocket."')]),
    "WebSocket turn errs": (dict(ws_error=True), "regression", [
        ("error_event", "exchange #3 turn 2: error event: rate_limit_exceeded")]),
    "WebSocket turn lost": (dict(ws_turns=1), "regression", [("exchange_gone", "exchange #3 turn 2: gone")]),
}


def exchanges(tmp_path: Path, session: Session, name: str) -> list[Exchange]:
    """The session written as a cassette and read back, as `rec diff` sees it."""
    return load_cassette(session.write(tmp_path / f"{name}.mpk")).exchanges


def compare(tmp_path: Path, old: Session, new: Session, rules: Rules | None = None) -> PairResult:
    return compare_exchanges(exchanges(tmp_path, old, "old"), exchanges(tmp_path, new, "new"), DEFAULT_NORMALIZER,
                             rules or Rules())


@pytest.mark.parametrize("case", list(CASES))
def test_each_one_way_change_gets_its_verdict_and_reasons(tmp_path: Path, case: str) -> None:
    change, verdict, reasons = CASES[case]
    result = compare(tmp_path, BASE, BASE.changed(run="b", **change))
    assert [(r.rule, str(r)) for r in result.reasons] == reasons
    assert result.verdict == verdict
    assert all(r.level == next(rule.level for rule in RULES if rule.name == r.rule) for r in result.reasons)


def test_a_structured_answer_that_changes_shape_is_a_regression(tmp_path: Path) -> None:
    result = compare(tmp_path, BASE.changed(answer='{"files": 2}'), BASE.changed(run="b", answer='{"count": 2}'))
    assert result.verdict == "regression"
    assert [(r.rule, str(r)) for r in result.reasons] == [
        ("output_shape", 'exchange #1: the JSON answer changed shape at files: "number" → (none)'),
        ("wording", 'exchange #1: answer text changed: "{\\"files\\": 2}" → "{\\"count\\": 2}"')]
    same_shape = compare(tmp_path, BASE.changed(answer='{"files": 2}'), BASE.changed(answer='{"files": 3}'))
    assert [r.rule for r in same_shape.reasons] == ["wording"] and same_shape.verdict == "benign"


def test_an_answer_that_got_better_is_benign_and_its_new_output_not_judged(tmp_path: Path) -> None:
    result = compare(tmp_path, BASE.changed(answer_status="failed"), BASE.changed(run="b"))
    assert [(r.rule, str(r)) for r in result.reasons] == [("recovered", "exchange #1: status failed → completed")]
    assert result.verdict == "benign"


def test_levels_and_the_token_budget_come_from_the_settings(tmp_path: Path) -> None:
    renamed = BASE.changed(run="b", calls=[("python", {"command": ["ls", "-a"]})])
    relaxed = Rules.from_settings(DiffSettings(levels={"tool_call_renamed": "benign"}))
    assert compare(tmp_path, BASE, renamed, relaxed).verdict == "benign"

    more_tokens = BASE.changed(run="b", answer_tokens=usage(input_tokens=1300, output=8))
    budget = Rules.from_settings(DiffSettings(token_budget=2))
    result = compare(tmp_path, BASE, more_tokens, budget)
    assert [(r.rule, str(r)) for r in result.reasons][-1] == (
        "token_budget", "tokens 3,688 → 3,788 (+3%), over the 2% budget")
    assert result.verdict == "regression"
    assert compare(tmp_path, BASE, more_tokens, Rules.from_settings(DiffSettings(token_budget=5))).verdict == "benign"


def test_tokens_cost_and_times_per_exchange_and_per_cassette(tmp_path: Path) -> None:
    prices = {"gpt-5": Price(input=1.25, cached_input=0.125, output=10.0)}
    slower = BASE.changed(run="b", delay_ms=60.0, answer_tokens=usage(output=80, reasoning=30))
    result = compare(tmp_path, BASE, slower, Rules(prices=prices))
    first, answer, models, socket = result.rows
    assert (first.old_figures.input_tokens, first.old_figures.cached_tokens, first.old_figures.output_tokens,
            first.old_figures.reasoning_tokens, first.old_figures.total_tokens) == (1200, 1000, 40, 16, 1240)
    assert (answer.new_figures.output_tokens, answer.new_figures.reasoning_tokens) == (80, 30)
    assert models.old_figures.total_tokens == 0 and models.old_figures.cost == 0
    # 200 uncached and 1,000 cached input tokens, 40 output tokens, in dollars per million.
    assert first.old_figures.cost == pytest.approx((200 * 1.25 + 1000 * 0.125 + 40 * 10.0) / 1e6)
    # The WebSocket's two turns: the prewarm used nothing, the turn the default usage.
    assert socket.old_figures.total_tokens == 1240
    assert result.old_figures.total_tokens == 1240 + 1208 + 1240
    assert result.new_figures.total_tokens == 1240 + 1280 + 1240
    # Recorded times: the stream's first event at 0 ms, its last 30 ms apart per event (60 in NEW).
    assert (first.old_figures.first_event_ms, first.old_figures.duration_ms) == (0.0, 90.0)
    assert first.new_figures.duration_ms == 180.0
    assert result.verdict == "benign"


def test_an_unpriced_model_has_no_cost_rather_than_a_wrong_one(tmp_path: Path) -> None:
    result = compare(tmp_path, BASE, BASE, Rules(prices={"gpt-4o": Price(1.0, 1.0, 1.0)}))
    assert result.old_figures.cost is None
    prefixed = compare(tmp_path, BASE, BASE, Rules(prices={"gpt": Price(1.0, 1.0, 1.0)}))
    assert prefixed.old_figures.cost == pytest.approx(3688 / 1e6)


def test_only_requests_or_only_responses(tmp_path: Path) -> None:
    old, new = exchanges(tmp_path, BASE, "old"), exchanges(tmp_path, BASE.changed(run="b", prompt="Hi."), "new")
    responses = compare_exchanges(old, new, DEFAULT_NORMALIZER, Rules(), ("response",))
    requests = compare_exchanges(old, new, DEFAULT_NORMALIZER, Rules(), ("request",))
    assert responses.verdict == "identical" and requests.verdict == "requests_changed"


def test_docs_list_every_rule_with_its_level_and_what_it_finds() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "diff.md").read_text()
    for rule in RULES:
        assert f"| `{rule.name}` | {rule.level} | {rule.finds} |" in docs, rule.name
