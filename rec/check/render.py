"""A ``CheckReport`` as text (a terminal, a CI log), markdown (a CI summary, a PR comment) or JSON (scripts)."""

from __future__ import annotations

import json

from rec.check.report import CheckReport, Finding

# Cassettes named in the summary as the heaviest.
LARGEST_SHOWN = 5


def _where(finding: Finding) -> str:
    return finding.cassette + (f" #{finding.exchange}" if finding.exchange is not None else "")


def _bytes(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _summary(report: CheckReport) -> str:
    failing = sum(f.fails for f in report.findings)
    warnings = len(report.findings) - failing
    return (f"{len(report.sizes)} cassette(s), {_bytes(report.total_bytes)}; {failing} finding(s)"
            + (f", {warnings} warning(s)" if warnings else ""))


def _largest(report: CheckReport) -> list[tuple[str, int]]:
    return sorted(report.sizes.items(), key=lambda item: (-item[1], item[0]))[:LARGEST_SHOWN]


def render_text(report: CheckReport) -> str:
    """One line per finding (where: rule: what; what to do), then the summary and the heaviest cassettes."""
    lines = [f"{_where(f)}: {f.rule}{'' if f.fails else ' (warning)'}: {f.message}; {f.fix}" for f in report.findings]
    lines.append(f"rec check: {_summary(report)}")
    if len(report.sizes) > 1:
        lines.append("largest: " + ", ".join(f"{name} {_bytes(size)}" for name, size in _largest(report)))
    return "\n".join(lines)


def render_markdown(report: CheckReport) -> str:
    """A heading with the verdict, a table of findings, and the heaviest cassettes."""
    lines = [f"### {'❌' if report.failed else '✅'} rec check: {_summary(report)}", ""]
    if report.findings:
        lines += ["| cassette | exchange | rule | finding | what to do |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{f.cassette}` | {'' if f.exchange is None else f.exchange} | "
                  f"{f.rule}{'' if f.fails else ' (warning)'} | {_cell(f.message)} | {_cell(f.fix)} |"
                  for f in report.findings]
        lines.append("")
    if report.sizes:
        lines.append("Largest cassettes: " + ", ".join(f"`{name}` {_bytes(size)}" for name, size in _largest(report)))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_json(report: CheckReport) -> str:
    """``{"clean", "findings": [...], "sizes": {cassette: bytes}, "total_bytes"}``."""
    return json.dumps({"clean": not report.failed, "findings": [f.to_json() for f in report.findings],
                       "sizes": report.sizes, "total_bytes": report.total_bytes}, indent=2)
