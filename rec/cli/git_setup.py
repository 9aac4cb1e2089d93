"""`rec git-setup`: let `git diff` show cassettes as JSON, in this repository, with no `rec` on PATH needed."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from rec.cli.errors import fail

DRIVER = "rec-cassette"
ATTRIBUTE = f"*.mpk diff={DRIVER}"


def git_setup(
    repository: Annotated[Path, typer.Option(
        "--repo", metavar="DIR", help="The git repository to set up (default: the one around the working folder).")]
        = Path("."),
) -> None:
    """Set up a git diff driver for cassettes: `git diff` then shows them as JSON (rec show --json).

    Writes `*.mpk diff=rec-cassette` to .gitattributes (once) and the driver to the repository's
    git config with this rec's absolute path, so it works where `rec` is not on PATH; when that
    rec is gone, the driver falls back to the cassette's size and checksum instead of breaking
    `git diff`. Run it again after moving the environment.
    """
    try:
        top = Path(subprocess.run(["git", "-C", str(repository), "rev-parse", "--show-toplevel"], capture_output=True,
                                  text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        raise fail(f"{repository} is not inside a git repository (or git is not installed)") from None
    rec = f"{shlex.quote(sys.executable)} -m rec"
    # `git diff` runs the textconv as `CMD FILE`; the fallback keeps it working if this environment goes away.
    textconv = (f"sh -c '{rec} show --json \"$1\" 2>/dev/null || {{ echo \"(rec not found: run rec git-setup)\"; "
                f"wc -c < \"$1\"; cksum < \"$1\"; }}' rec-textconv")
    for key, value in ((f"diff.{DRIVER}.textconv", textconv), (f"diff.{DRIVER}.cachetextconv", "true")):
        subprocess.run(["git", "-C", str(top), "config", key, value], check=True)
    attributes = top / ".gitattributes"
    lines = attributes.read_text().splitlines() if attributes.is_file() else []
    if ATTRIBUTE not in lines:
        attributes.write_text("\n".join([*lines, ATTRIBUTE]) + "\n")
    typer.echo(f"rec git-setup: `git diff` in {top} shows *.mpk cassettes as JSON (driver {DRIVER}, "
               f"using {sys.executable})", err=True)
