"""`rec diff` on cassettes of 5,000 to 20,000 exchanges: seconds, and the ratio to reading both cassettes.

Each exchange is a streamed answer shaped as the API sends it (a function call or a
message, usage in `response.completed`). Three comparisons per size: a cassette with itself
(`rec diff A A`), with a re-recording of it (every id different, one answer in a hundred
reworded, so the pair is benign), and a cassette of one turn repeated (a polling client: the
same request and answer, only the ids differ) with itself, the shape that made an earlier
alignment quadratic. Reading both cassettes (`load_cassette`) is the floor any
comparison pays; the ratio to it is what to quote, and how it grows with the size shows
whether the work is linear. Times are CPU seconds (user + system, of the `rec diff` process
with its start), so a busy machine does not inflate them.

Run: .venv/bin/python -m bench diff_bench
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rec.cassette import load_cassette
from rec.synth.events import ev_function_call, ev_output_text_delta, ev_response_created, user_message_item
from rec.synth.scenario import Scenario

SIZES = (5_000, 10_000, 20_000)
ROUNDS = 3


def completed(response_id: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    usage = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024}, "output_tokens": 40,
             "output_tokens_details": {"reasoning_tokens": 16}, "total_tokens": 1240}
    return {"type": "response.completed",
            "response": {"id": response_id, "status": "completed", "output": output, "usage": usage}}


def cassette(path: Path, size: int, run: str, reworded_every: int = 0) -> None:
    """``size`` streamed turns; ``run`` changes every id; every ``reworded_every``-th answer is reworded."""
    scenario = Scenario()
    for n in range(size):
        response_id = f"resp_{run}{n:08d}"
        request = {"model": "gpt-5", "input": [user_message_item(f"step {n}: list the files")], "stream": True}
        if n % 2 == 0:
            call = ev_function_call(f"call_{run}{n:08d}", "shell", '{"command":["ls","-la"]}')
            events = [ev_response_created(response_id), call, completed(response_id, [call["item"]])]
        else:
            reworded = reworded_every and (n // 2) % reworded_every == 0
            text = "Two files." if reworded else "The folder holds two files."
            message = {"type": "message", "id": f"msg_{run}{n:08d}", "role": "assistant",
                       "content": [{"type": "output_text", "text": text}]}
            events = [ev_response_created(response_id), ev_output_text_delta(text),
                      {"type": "response.output_item.done", "item": message}, completed(response_id, [message])]
        scenario.sse_turn(events, request=request, delay_ms=5)
    scenario.write(path)


def repeated(path: Path, size: int) -> None:
    """The same turn ``size`` times; only the response ids differ."""
    scenario = Scenario()
    for n in range(size):
        response_id = f"resp_{n:08d}"
        scenario.sse_turn([ev_response_created(response_id), completed(response_id, [])],
                          request={"model": "gpt-5", "input": "any news?", "stream": True})
    scenario.write(path)


def cpu_of(command: list[str]) -> float:
    """CPU seconds the command used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=False, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    rec = [sys.executable, "-m", "rec", "diff"]
    print(f"rec diff, CPU seconds, median of {ROUNDS} (process start included):")
    print(f"  {'exchanges':>9}  {'reading both':>12}  {'diff A A':>9}  {'ratio':>6}  {'diff A B':>9}  {'ratio':>6}"
          f"  {'repeated A A':>12}")
    for size in SIZES:
        with tempfile.TemporaryDirectory(prefix="rec-bench-diff-") as tmp:
            old, new, polling = Path(tmp) / "old.mpk", Path(tmp) / "new.mpk", Path(tmp) / "polling.mpk"
            cassette(old, size, "a")
            cassette(new, size, "b", reworded_every=100)
            repeated(polling, size)
            reads, same, rerecorded, polled = [], [], [], []
            for _ in range(ROUNDS):
                started = time.process_time()
                load_cassette(old), load_cassette(new)
                reads.append(time.process_time() - started)
                same.append(cpu_of([*rec, str(old), str(old), "--format", "json"]))
                rerecorded.append(cpu_of([*rec, str(old), str(new), "--format", "json"]))
                polled.append(cpu_of([*rec, str(polling), str(polling), "--format", "json"]))
            read, aa, ab, pp = (statistics.median(x) for x in (reads, same, rerecorded, polled))
            print(f"  {size:>9,}  {read:>10.2f} s  {aa:>7.2f} s  {aa / read:>5.1f}x  {ab:>7.2f} s  {ab / read:>5.1f}x"
                  f"  {pp:>10.2f} s", flush=True)


if __name__ == "__main__":
    main()
