"""`rec replay`; the server is imported only when the command runs, so `rec --help` stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rec.cli.errors import fail, warn
from replayer.faults import ACTION_SYNTAX


def _emit(line: str) -> None:
    sys.stderr.write(f"rec replay: {line}\n")
    sys.stderr.flush()


def replay(
    files: Annotated[list[Path], typer.Argument(help="Cassettes to serve, in order.", show_default=False)],
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT",
                                      help="Port to listen on; 0 picks a free one.")] = 0,
    timing: Annotated[str, typer.Option(
        metavar="TIMING", help="none (as fast as possible), recorded (each chunk and frame at "
                                             "its recorded offset), or scale:F (offsets times F).")] = "none",
    match: Annotated[str, typer.Option(
        metavar="MODE", help="sequence (per route, the Nth request gets the Nth answer) or body "
                                            "(the first unused exchange whose normalized body is equal).")]
    = "sequence",
    repeat: Annotated[bool, typer.Option("--repeat", help="When nothing is left for a request, serve again "
                                                          "the answer it got before, instead of a 409.")] = False,
    report: Annotated[Path | None, typer.Option(
        metavar="FILE", help="Write the replay report (JSON) here on exit.")] = None,
    ignore: Annotated[list[str] | None, typer.Option(
        metavar="PATH", help="A JSON path left out when comparing bodies, e.g. 'input[*].id' (repeatable; adds to "
                             "the defaults).")] = None,
    mask: Annotated[list[str] | None, typer.Option(
        metavar="REGEX",
        help="A regular expression masked in every string of a body before comparing (repeatable; adds to "
             "the defaults and to `mask` in the project's rec settings). Never changes what is served.")]
    = None,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Do not check request invariants.")] = False,
    fault: Annotated[list[str] | None, typer.Option(
        metavar="SPEC",
        help=f"Inject a fault: EXCHANGE[.TURN]:after-event=K:ACTION[:times=N], with ACTION one of "
             f"{ACTION_SYNTAX.replace('|', ', ')}, and EXCHANGE as rec show numbers it, or * (repeatable). "
             "See docs/replaying.md.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per served request (problems and the "
                                                              "summary are still printed).")] = False,
    limit: Annotated[list[str] | None, typer.Option(
        metavar="NAME=VALUE",
        help="Raise or lower a limit on what clients send: NAME=VALUE with NAME one of body, decoded_body, url, "
             "header_bytes, headers, websocket_message (sizes: 512KiB, 64MiB) or request_timeout, idle_timeout "
             "(seconds). Repeatable. See docs/replaying.md.")] = None,
) -> None:
    """Serve cassettes as a mock Responses API server until SIGINT or SIGTERM.

    The first line on stdout is the base URL. On exit, a summary goes to stderr and the
    status is 0 only when no request broke an invariant and every request was matched.
    """
    from rec.cassette import CassetteError
    from rec.config import ConfigError, load_normalizer
    from replayer.faults import FaultSpecError
    from replayer.limits import Limits
    from replayer.match_modes import MatchMode
    from replayer.pacing import parse_timing
    from replayer.server import ReplayServer

    for option, check in (("--match", lambda: MatchMode.parse(match)), ("--timing", lambda: parse_timing(timing)),
                          ("--limit", lambda: Limits().with_settings(limit or []))):
        try:
            check()
        except ValueError as err:
            raise fail(f"bad {option}: {err}") from None
    mode, limits = MatchMode.parse(match), Limits().with_settings(limit or [])

    try:
        # The defaults, then [tool.rec] in pyproject.toml or rec.toml, then --ignore.
        normalizer = load_normalizer(ignore or (), masks=mask or ())
        server = ReplayServer.from_cassettes(
            files, host=host, port=port, timing=timing, match=mode, repeat=repeat,
            normalizer=normalizer, validate=not no_validate, keep_requests=False, emit=_emit,
            log_requests=not quiet, faults=fault or (), limits=limits,
        )
    except (CassetteError, ConfigError, FaultSpecError) as err:
        raise fail(str(err)) from None
    import gc

    # What was just loaded lives until exit: keep the collector from rescanning it while serving.
    gc.freeze()
    for warning in server.warnings:
        warn(warning)
    from rec.cli.running import run_until_signal

    code = run_until_signal(server)
    if code == 2:
        raise typer.Exit(2)
    final = server.report
    typer.echo(f"rec replay: {final.summary_line()}", err=True)
    if report is not None:
        try:
            final.write(report)
        except OSError as err:
            raise fail(f"cannot write the report to {report}: {err.strerror}") from None
    raise typer.Exit(0 if final.ok else 1)
