"""Project settings for normalization: `[tool.rec]` in pyproject.toml, or a rec.toml.

The nearest file from the current folder upward wins (a rec.toml before a pyproject.toml
in the same folder). Keys::

    [tool.rec]                      # or the top level of rec.toml
    ignore = ["input[*].id"]        # JSON paths left out of body comparisons (adds to the defaults)
    ignore_headers = ["x-trace"]    # headers left out of comparisons (adds to the defaults)
    mask = ["run-[0-9]+"]           # regular expressions masked in every string before comparing
    mask_volatile = true            # mask ids, UUIDs, timestamps, machine folders (default true)
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rec.normalize import DEFAULT_NORMALIZER, Normalizer


class ConfigError(ValueError):
    """A settings file rec cannot use; the message names the file and the key."""


def find_settings(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The nearest settings (file, table) from ``start`` upward, or None."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        rec_toml = candidate / "rec.toml"
        if rec_toml.is_file():
            return rec_toml, _read(rec_toml)
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            table = _read(pyproject).get("tool", {}).get("rec")
            if table is not None:
                return pyproject, table
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read settings: {err}") from None


def _strings(path: Path, table: dict[str, Any], key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: `{key}` must be a list of strings")
    return tuple(value)


def load_normalizer(extra_ignore: Sequence[str] = (), start: Path | None = None,
                    masks: Sequence[str] = ()) -> Normalizer:
    """The defaults, plus the project's settings, plus ``extra_ignore`` (--ignore) and ``masks`` (--mask).

    ConfigError names a bad key, or a mask that is not a valid regular expression.
    """
    found = find_settings(start)
    normalizer = DEFAULT_NORMALIZER
    if found is not None:
        path, table = found
        mask = table.get("mask_volatile", True)
        if not isinstance(mask, bool):
            raise ConfigError(f"{path}: `mask_volatile` must be true or false")
        normalizer = Normalizer(ignore=(*normalizer.ignore, *_strings(path, table, "ignore")), mask_volatile=mask,
                                ignore_headers=_strings(path, table, "ignore_headers"))
        try:
            normalizer = normalizer.with_masks(_strings(path, table, "mask"))
        except ValueError as err:
            raise ConfigError(f"{path}: {err}") from None
    try:
        return normalizer.with_ignored(extra_ignore).with_masks(masks)
    except ValueError as err:
        raise ConfigError(f"--mask: {err}") from None
