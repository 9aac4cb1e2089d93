"""`rec synth`: build a cassette from a scenario file (Python or JSON), with no recording."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rec.cli.errors import fail, warn

if TYPE_CHECKING:
    from rec.synth.scenario import Scenario



def load_scenario(path: Path) -> Scenario:
    """The Scenario a file describes: a Python module's `scenario()` or `SCENARIO`, or a JSON document."""
    import importlib.util
    import json
    import traceback

    from rec.synth.scenario import Scenario, scenario_from_json

    if not path.is_file():
        raise fail(f"{path}: no such scenario file")
    if path.suffix == ".json":
        try:
            return scenario_from_json(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError) as err:
            raise fail(f"{path}: {err}") from None
    if path.suffix != ".py":
        raise fail(f"{path}: a scenario is a Python module (.py) or a JSON file (.json)")
    spec = importlib.util.spec_from_file_location(f"rec_scenario_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        built = module.scenario() if hasattr(module, "scenario") else getattr(module, "SCENARIO", None)
    except Exception as err:
        last = traceback.extract_tb(err.__traceback__)[-1]
        raise fail(f"{path}: the scenario raised {type(err).__name__}: {err} "
                    f"(at {Path(last.filename).name}:{last.lineno})") from None
    if built is None:
        raise fail(f"{path}: define scenario() returning a Scenario, or a module-level SCENARIO")
    if not isinstance(built, Scenario):
        raise fail(f"{path}: scenario() returned {type(built).__name__}, not a rec.synth.scenario.Scenario")
    return built


def synth(
    scenario: Annotated[Path, typer.Argument(help="A .py module (scenario() or SCENARIO) or a .json file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The cassette to write (atomically).")],
    allow_malformed: Annotated[bool, typer.Option(
        "--allow-malformed", help="Write streams that break the rules of rec check anyway, marked as deliberate "
                                  "faults (rec check then leaves them alone).")] = False,
) -> None:
    """Build a cassette from a scenario of ev_* builders, without recording.

    Every stream it builds must be one a real client accepts (the streams rules of `rec
    check`, docs/check.md), or it refuses and names the exchange. A deliberate fault is
    marked in the scenario (malformed=True on that turn), or with --allow-malformed for
    all of them; a stream cut with cut_after=N is a recorded fault already and passes.
    """
    from rec.check.streams import stream_findings
    from rec.synth.scenario import mark_malformed

    built = load_scenario(scenario)
    problems = [finding for index, exchange in enumerate(built.exchanges)
                for finding in stream_findings(str(scenario), index, exchange)]
    if problems and not allow_malformed:
        first = problems[0]
        raise fail(f"{scenario}: exchange #{first.exchange}: {first.message} ({len(problems)} problem(s) in all); "
                   "fix the scenario, or mark a deliberate fault with malformed=True on that turn "
                   "(or --allow-malformed)")
    for number in sorted({finding.exchange for finding in problems if finding.exchange is not None}):
        mark_malformed(built.exchanges[number])
        warn(f"exchange #{number} is written malformed on purpose (--allow-malformed)")
    try:
        built.write(output)
    except OSError as err:
        raise fail(f"cannot write {output}: {err.strerror}") from None
    typer.echo(f"rec synth: wrote {len(built.exchanges)} exchange(s) to {output}", err=True)
