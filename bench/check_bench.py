"""`rec check` over 10,000 cassettes: seconds per hundred, beside reading them alone (the floor any check pays).

Each cassette holds what a test suite's does: four streamed answers shaped as the API sends
them (sequence numbers, content parts, deltas) and a WebSocket of two turns. Measured as the
library call on one process (`check_paths`, CPU seconds) and as the command a CI job runs
(`rec check FOLDER`: process start included, every CPU used, wall seconds), each round beside
a read-only pass in the same round. Then where the time goes: each part of the check alone over
the exchanges of the first PART_CASSETTES cassettes as they are read, beside reading them.

Run: .venv/bin/python -m bench check_bench
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rec.cassette import CassetteReader, Exchange, HttpExchange, WebSocketExchange
from rec.check import CheckOptions, check_paths
from rec.check.bodies import answer_of
from rec.check.events import plain_sse_events, plain_websocket_turns
from rec.check.secrets import _texts, secret_findings
from rec.check.streams import _plainly_well_formed, stream_findings
from rec.redaction import DEFAULT_RULES
from rec.synth.scenario import Scenario

CASSETTES = 10_000
ROUNDS = 5
PART_CASSETTES = 2_000
PART_ROUNDS = 7


def stream(response_id: str, text: str) -> list[dict[str, Any]]:
    """A streamed message with what the API sends around it."""
    item = {"type": "message", "id": f"msg_{response_id}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.in_progress", "response": {"id": response_id, "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {"type": "response.content_part.added", **where, "part": {"type": "output_text", "text": ""}},
        *({"type": "response.output_text.delta", **where, "delta": word + " "} for word in text.split()),
        {"type": "response.output_text.done", **where, "text": text},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": {"id": response_id, "status": "completed", "output": [item]}},
    ]
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def corpus(folder: Path) -> None:
    """CASSETTES cassettes of four SSE answers and a two-turn WebSocket each."""
    for k in range(CASSETTES):
        scenario = Scenario()
        for n in range(4):
            scenario.sse_turn(stream(f"resp_{k}_{n}", f"answer {n} of cassette {k} with a few words to stream"),
                              request={"model": "gpt-test", "input": f"prompt {n}", "stream": True})
        scenario.websocket([(None, stream(f"resp_{k}_ws{t}", f"turn {t} over the socket")) for t in range(2)])
        scenario.write(folder / f"test_{k:04d}.mpk")


def read_all(folder: Path) -> None:
    for path in sorted(folder.glob("*.mpk")):
        with CassetteReader(path) as reader:
            for _ in reader:
                pass


def _plain(exchange: Exchange) -> None:
    if isinstance(exchange, HttpExchange):
        plain_sse_events(answer_of(exchange) or b"")
    elif isinstance(exchange, WebSocketExchange):
        plain_websocket_turns(exchange)


def _vouched(exchange: Exchange) -> None:
    if isinstance(exchange, HttpExchange):
        events = plain_sse_events(answer_of(exchange) or b"")
        _plainly_well_formed(events or [])
    elif isinstance(exchange, WebSocketExchange):
        for _, turn, _, _ in plain_websocket_turns(exchange) or []:
            _plainly_well_formed(turn)


def _gate(exchange: Exchange) -> None:
    if isinstance(exchange, HttpExchange | WebSocketExchange):
        DEFAULT_RULES.may_hold_credentials(b"\n".join(_texts(exchange, DEFAULT_RULES.headers, answer_of(exchange))))


# Each part of the check, as it runs on one exchange; each joins the exchange's answer itself (answer_of), and each
# includes the parts above it in its group.
PARTS: dict[str, Any] = {
    "reading alone": lambda exchange: None,
    "answer bodies joined (answer_of)": answer_of,
    "answers read plainly (Structs)": _plain,
    "... and vouched for in one pass": _vouched,
    "stream rules, all of it": lambda exchange: stream_findings("c", 0, exchange),
    "secret scan's texts and RE2 look": _gate,
    "secret scan, all of it": lambda exchange: secret_findings("c", 0, exchange, CheckOptions()),
}


def parts(folder: Path) -> None:
    """CPU seconds of reading the first PART_CASSETTES cassettes with each part run over their exchanges; the
    least of PART_ROUNDS interleaved rounds (the part's own cost, on a machine whose other work comes and goes)."""
    paths = sorted(folder.glob("*.mpk"))[:PART_CASSETTES]
    best: dict[str, float] = {}
    for _ in range(PART_ROUNDS):
        for name, part in PARTS.items():
            started = time.process_time()
            for path in paths:
                with CassetteReader(path) as reader:
                    for exchange in reader:
                        part(exchange)
            best[name] = min(best.get(name, float("inf")), time.process_time() - started)
    read = best["reading alone"]
    print(f"where the time goes: each part alone over {len(paths):,} cassettes as they are read, least CPU of "
          f"{PART_ROUNDS} rounds, over reading them:")
    for name, seconds in best.items():
        print(f"  {name:<34} {seconds:6.2f} s CPU = {seconds / read:.2f}x" if name == "reading alone" else
              f"  {name:<34} +{(seconds - read) / read:.2f}x")


def timed(work: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``work`` (the CPU of this process and of the children it waited for)."""
    started, cpu = time.perf_counter(), _cpu()
    work()
    return time.perf_counter() - started, _cpu() - cpu


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rec-bench-check-") as tmp:
        folder = Path(tmp)
        corpus(folder)
        command = [sys.executable, "-m", "rec", "check", str(folder)]
        report = check_paths([folder], CheckOptions())
        assert not report.findings, report.findings[:3]
        reads, checks, runs = [], [], []
        for _ in range(ROUNDS):
            reads.append(timed(lambda: read_all(folder)))
            checks.append(timed(lambda: check_paths([folder], CheckOptions())))
            runs.append(timed(lambda: subprocess.run(command, check=True, capture_output=True)))
        print(f"{CASSETTES:,} cassettes x (4 SSE answers + a 2-turn WebSocket), median of {ROUNDS} interleaved rounds "
              f"({os.cpu_count()} CPUs):")
        read_wall, read_cpu = (statistics.median(x) for x in zip(*reads, strict=True))
        print(f"  reading them alone          {read_wall:6.2f} s wall, {read_cpu:6.2f} s CPU")
        for name, results in (("check_paths, one process", checks), ("rec check FOLDER (CLI)", runs)):
            wall, cpu = (statistics.median(x) for x in zip(*results, strict=True))
            # Each round's ratio to the read in the same round, so a machine busier in one round than another
            # weighs on both sides of it.
            over_wall, over_cpu = (statistics.median(r[k] / read[k] for r, read in zip(results, reads, strict=True))
                                   for k in (0, 1))
            print(f"  {name:<27} {wall:6.2f} s wall, {cpu:6.2f} s CPU = {wall / CASSETTES * 100:.3f} s per hundred, "
                  f"{over_wall:.2f}x reading (wall), {over_cpu:.2f}x (CPU)")
        parts(folder)


if __name__ == "__main__":
    main()
