"""`rec diff` output: text, markdown (CI summaries, PR comments), JSON (tools) and JUnit XML (test reporters).

Two documents, each in every format: a *pair* (`rec diff A B`: two cassettes) and a *report*
(two folders, or --git: many pairs). The JSON of a pair is also each entry of a report's
`pairs`, so one reader handles both; `rec_diff` is the version of these documents
(docs/diff.md describes every field).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any, Literal

from rec.diff.compare import PairResult
from rec.diff.report import FailOn, Report, pair_fails
from rec.diff.usage import Figures, delta

DOCUMENT_VERSION = 1
Format = Literal["text", "markdown", "json", "junit"]
# The order pairs are listed in: what most needs a reviewer first.
ORDER = ("regression", "requests_changed", "only_old", "only_new", "benign", "identical")
TITLES = {"regression": "Regressions", "requests_changed": "Requests changed", "only_old": "Only in OLD",
          "only_new": "Only in NEW", "benign": "Benign changes", "identical": "Identical"}
ICONS = {"regression": "❌", "requests_changed": "✏️", "only_old": "🔻", "only_new": "🆕", "benign": "🟢",
         "identical": "⚪"}


def _ordered(pairs: list[PairResult]) -> list[PairResult]:
    return sorted(pairs, key=lambda p: (ORDER.index(p.verdict), p.path))


# --- figures -------------------------------------------------------------------------------


def _signed(value: float, unit: str = "") -> str:
    return f"{value:+,.0f}{unit}" if isinstance(value, int) or value.is_integer() else f"{value:+,.1f}{unit}"


def _growth(old: float, new: float) -> str:
    change = _signed(new - old)
    return f"{change}, {(new / old - 1) * 100:+.1f}%" if old else change


def _cost(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}"


def _seconds(ms: float | None) -> str:
    return "n/a" if ms is None else f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def figures_line(old: Figures, new: Figures, priced: bool) -> str:
    """Tokens old → new with the change, each kind, cost when priced, and the recorded times."""
    kinds = ", ".join(f"{name} {getattr(old, f'{name}_tokens'):,} → {getattr(new, f'{name}_tokens'):,}"
                      for name in ("input", "cached", "output", "reasoning"))
    text = (f"tokens {old.total_tokens:,} → {new.total_tokens:,} ({_growth(old.total_tokens, new.total_tokens)}): "
            f"{kinds}")
    if priced:
        text += f"; cost {_cost(old.cost)} → {_cost(new.cost)}"
    return (text + f"; time to first event (sum) {_seconds(old.first_event_ms)} → {_seconds(new.first_event_ms)}, "
            f"duration (sum) {_seconds(old.duration_ms)} → {_seconds(new.duration_ms)}")


def figures_table(old: Figures, new: Figures, priced: bool) -> list[str]:
    """Markdown: tokens of each kind, cost when priced, and the summed times, for OLD, NEW and the change."""
    columns = ["input", "cached", "output", "reasoning", "total"]
    head = ["", *(f"{c} tokens" for c in columns), *(["cost"] if priced else []), "time to first event (sum)",
            "duration (sum)"]

    def row(name: str, figures: Figures) -> list[str]:
        return [name, *(f"{getattr(figures, f'{c}_tokens'):,}" for c in columns),
                *([_cost(figures.cost)] if priced else []), _seconds(figures.first_event_ms),
                _seconds(figures.duration_ms)]

    change = delta(old, new)
    changes = ["Δ", *(_signed(change[f"{c}_tokens"]) for c in columns),
               *([_signed_cost(change["cost"])] if priced else []), _signed_ms(change["first_event_ms"]),
               _signed_ms(change["duration_ms"])]
    return [_table_row(head), _table_row(["---", *("---:" for _ in head[1:])]), _table_row(row("OLD", old)),
            _table_row(row("NEW", new)), _table_row(changes)]


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _signed_cost(value: float | None) -> str:
    return "n/a" if value is None else f"{'+' if value >= 0 else '-'}${abs(value):,.4f}"


def _signed_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.0f} ms"


def usage_json(old: Figures | None, new: Figures | None) -> dict[str, Any]:
    return {"old": old.to_json() if old else None, "new": new.to_json() if new else None,
            "delta": delta(old, new) if old and new else None}


# --- JSON ----------------------------------------------------------------------------------


def pair_json(pair: PairResult, fail_on: FailOn) -> dict[str, Any]:
    return {
        "path": pair.path, "old": pair.old_name or None, "new": pair.new_name or None, "verdict": pair.verdict,
        "level": pair.level, "failed": pair_fails(pair, fail_on), "reasons": [r.to_json() for r in pair.reasons],
        "usage": usage_json(pair.old_figures, pair.new_figures), "summary": pair.counts(),
        "exchanges": [{"old": row.old, "new": row.new, "route": row.route, "verdict": row.verdict,
                       "usage": usage_json(row.old_figures, row.new_figures)} for row in pair.rows],
        "changes": [change.to_json() for change in pair.changes],
    }


def render_pair_json(pair: PairResult, fail_on: FailOn) -> str:
    # `equal`, `a` and `b` are the names `rec diff A B --format json` had before verdicts.
    document = {"rec_diff": DOCUMENT_VERSION, "equal": pair.verdict == "identical", "a": pair.old_name,
                "b": pair.new_name, "fail_on": fail_on, **pair_json(pair, fail_on)}
    return _dumps(document, levels=2) + "\n"


def render_report_json(report: Report, fail_on: FailOn) -> str:
    old, new = report.figures()
    document = {"rec_diff": DOCUMENT_VERSION, "old": report.old_name, "new": report.new_name, "fail_on": fail_on,
                "failed": any(pair_fails(p, fail_on) for p in report.pairs), "summary": report.summary(),
                "usage": usage_json(old, new), "pairs": [pair_json(p, fail_on) for p in report.pairs]}
    return _dumps(document, levels=4) + "\n"


def _dumps(value: Any, levels: int, indent: str = "") -> str:
    """JSON indented ``levels`` deep, each deeper value on one line: easy to read and to grep, and written by the
    C encoder (a cassette of 20,000 exchanges has 20,000 rows)."""
    if levels == 0 or not isinstance(value, dict | list) or not value:
        return json.dumps(value, ensure_ascii=False)
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {_dumps(item, levels - 1, inner)}"
                 for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    return "[\n" + ",\n".join(f"{inner}{_dumps(item, levels - 1, inner)}" for item in value) + f"\n{indent}]"


# --- text ----------------------------------------------------------------------------------


def _summary_words(summary: dict[str, int]) -> str:
    names = {"only_old": "only in OLD", "only_new": "only in NEW", "requests_changed": "requests changed"}
    return ", ".join(f"{summary[v]} {names.get(v, v)}" for v in ORDER)


def render_pair_text(pair: PairResult, priced: bool) -> str:
    counts = pair.counts()
    state = "equal" if pair.verdict == "identical" else "different"
    lines = [f"rec diff: {pair.old_name} vs {pair.new_name}: {state} ({counts['equal']} equal, {counts['changed']} "
             f"changed, {counts['missing']} missing, {counts['extra']} extra)",
             f"verdict: {pair.verdict}", *(f"  {reason}" for reason in pair.reasons),
             figures_line(pair.old_figures, pair.new_figures, priced)]
    for change in pair.changes:
        lines.append(f"\n{change.kind.upper()}: {change.title()}")
        if change.diff:
            lines.append(change.diff)
    return "\n".join(lines) + "\n"


def render_report_text(report: Report, priced: bool) -> str:
    old, new = report.figures()
    lines = [f"rec diff: {report.old_name} vs {report.new_name}: {len(report.pairs)} cassette(s): "
             f"{_summary_words(report.summary())}", figures_line(old, new, priced)]
    for pair in _ordered(report.pairs):
        if pair.verdict == "identical":
            continue
        lines.append(f"{pair.verdict.upper():<17} {pair.path}  "
                     f"(tokens {pair.old_figures.total_tokens:,} → {pair.new_figures.total_tokens:,})")
        lines += [f"  {reason}" for reason in pair.reasons]
    return "\n".join(lines) + "\n"


# --- markdown ------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def _md(text: str) -> str:
    """Text that markdown shows as written (no emphasis, no HTML, no table cell break)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _code(text: str) -> str:
    quoted = text.replace("`", "'")
    return f"`{quoted}`"


def _reasons_md(pair: PairResult) -> list[str]:
    return [f"**{_code(pair.path or pair.new_name)}**", "", *(f"- {_md(str(r))}" for r in pair.reasons), ""]


def render_pair_markdown(pair: PairResult, fail_on: FailOn, priced: bool) -> str:
    counts = pair.counts()
    icon = "❌" if pair_fails(pair, fail_on) else "✅"
    lines = [f"### {icon} rec diff: {_code(pair.old_name)} vs {_code(pair.new_name)}", "",
             f"**Verdict: {pair.verdict}**", "", *(f"- {_md(str(r))}" for r in pair.reasons), "",
             "| equal | changed | missing | extra |", "| ---: | ---: | ---: | ---: |",
             f"| {counts['equal']} | {counts['changed']} | {counts['missing']} | {counts['extra']} |", "",
             *figures_table(pair.old_figures, pair.new_figures, priced)]
    for change in pair.changes:
        lines += ["", f"**{change.kind}**: {_code(change.title())}"]
        if change.diff:
            fence = "`" * max(3, _longest_backtick_run(change.diff) + 1)  # a body's own ``` cannot close it
            lines += ["", f"{fence}diff", change.diff, fence]
    return "\n".join(lines) + "\n"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall("`+", text)), default=0)


def render_report_markdown(report: Report, fail_on: FailOn, priced: bool) -> str:
    old, new = report.figures()
    failed = any(pair_fails(p, fail_on) for p in report.pairs)
    summary = report.summary()
    lines = [f"### {'❌' if failed else '✅'} rec diff: {_md(_summary_words(summary))}", "",
             f"{_code(report.old_name)} vs {_code(report.new_name)}, {len(report.pairs)} cassette(s); "
             f"fails on {_code(fail_on)}", "", *figures_table(old, new, priced), ""]
    shown = [p for p in _ordered(report.pairs) if p.verdict != "identical"]
    if shown:
        lines += ["| cassette | verdict | tokens old | tokens new | Δ tokens | reasons |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {_code(p.path)} | {ICONS[p.verdict]} {p.verdict} | {p.old_figures.total_tokens:,} | "
                  f"{p.new_figures.total_tokens:,} | {_signed(p.new_figures.total_tokens - p.old_figures.total_tokens)}"
                  f" | {len(p.reasons)} |" for p in shown]
        lines.append("")
    for verdict in ("regression", "requests_changed", "only_old", "only_new"):
        group = [p for p in shown if p.verdict == verdict]
        if group:
            lines += [f"#### {ICONS[verdict]} {TITLES[verdict]} ({len(group)})", ""]
            if verdict in ("regression", "requests_changed"):
                lines += [line for pair in group for line in _reasons_md(pair)]
            else:
                lines += [*(f"- {_code(pair.path)}" for pair in group), ""]
    for verdict in ("benign", "identical"):
        group = [p for p in _ordered(report.pairs) if p.verdict == verdict]
        if group:
            lines += [f"<details><summary>{ICONS[verdict]} {TITLES[verdict]} ({len(group)})</summary>", ""]
            for pair in group:
                lines += _reasons_md(pair) if pair.reasons else [f"- {_code(pair.path)}"]
            lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- JUnit XML -----------------------------------------------------------------------------

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render_junit(pairs: list[PairResult], fail_on: FailOn, suite: str, priced: bool) -> str:
    """One test case per pair; a pair that reaches the --fail-on level is a failure with its reasons."""
    failures = sum(1 for p in pairs if pair_fails(p, fail_on))
    root = ET.Element("testsuites", name="rec diff", tests=str(len(pairs)), failures=str(failures), errors="0")
    cases = ET.SubElement(root, "testsuite", name=_xml(suite), tests=str(len(pairs)), failures=str(failures),
                          errors="0", skipped="0")
    for pair in pairs:
        case = ET.SubElement(cases, "testcase", classname="rec diff", name=_xml(pair.path or pair.new_name), time="0")
        details = "\n".join([f"verdict: {pair.verdict}", *(str(r) for r in pair.reasons),
                             figures_line(pair.old_figures, pair.new_figures, priced)])
        if pair_fails(pair, fail_on):
            first = str(pair.reasons[0]) if pair.reasons else pair.verdict
            failure = ET.SubElement(case, "failure", type=pair.verdict, message=_xml(f"{pair.verdict}: {first}"))
            failure.text = _xml(details)
        else:
            ET.SubElement(case, "system-out").text = _xml(details)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- by format -----------------------------------------------------------------------------


def render_pair(pair: PairResult, fmt: Format, fail_on: FailOn, priced: bool) -> str:
    """Two cassettes compared, in a format; ``priced``: costs are shown (prices were set)."""
    if fmt == "text":
        return render_pair_text(pair, priced)
    if fmt == "markdown":
        return render_pair_markdown(pair, fail_on, priced)
    if fmt == "json":
        return render_pair_json(pair, fail_on)
    return render_junit([pair], fail_on, f"{pair.old_name} vs {pair.new_name}", priced)


def render_report(report: Report, fmt: Format, fail_on: FailOn, priced: bool) -> str:
    """Folders (or a revision and the work tree) compared, in a format."""
    if fmt == "text":
        return render_report_text(report, priced)
    if fmt == "markdown":
        return render_report_markdown(report, fail_on, priced)
    if fmt == "json":
        return render_report_json(report, fail_on)
    return render_junit(report.pairs, fail_on, f"{report.old_name} vs {report.new_name}", priced)
