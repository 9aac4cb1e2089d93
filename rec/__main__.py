"""`python -m rec`: the `rec` CLI, for environments where the script is not on PATH."""

from rec.cli import main

main()
