"""Project settings for normalization: `[tool.rec]` in pyproject.toml, or a rec.toml.

The nearest file from the current folder upward wins (a rec.toml before a pyproject.toml
in the same folder). Keys::

    [tool.rec]                      # or the top level of rec.toml
    ignore = ["input[*].id"]        # JSON paths left out of body comparisons (adds to the defaults)
    ignore_headers = ["x-trace"]    # headers left out of comparisons (adds to the defaults)
    mask = ["run-[0-9]+"]           # regular expressions masked in every string before comparing
    mask_volatile = true            # mask ids, UUIDs, timestamps, machine folders (default true)

    [tool.rec.diff]                 # `rec diff` verdicts (docs/diff.md); `[diff]` in rec.toml
    token_budget = 20               # a cassette whose tokens grow more than 20% has regressed
    levels = { output_kinds = "benign" }   # a rule's level: benign, requests_changed or regression
    [tool.rec.diff.prices]          # US dollars per million tokens, per model (or model prefix)
    "gpt-5" = { input = 1.25, cached_input = 0.125, output = 10.0 }
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
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

    ConfigError names a bad key, or a mask that is not a valid regular expression. The project's own masks may
    use lookaround and backreferences (as rec took them before it matched masks with RE2): see ``compile_mask``.
    """
    return normalizer_from(find_settings(start), extra_ignore, masks)


def normalizer_from(found: tuple[Path, dict[str, Any]] | None, extra_ignore: Sequence[str] = (),
                    masks: Sequence[str] = ()) -> Normalizer:
    """load_normalizer over settings already found (what find_settings returned)."""
    normalizer = DEFAULT_NORMALIZER
    if found is not None:
        path, table = found
        mask = table.get("mask_volatile", True)
        if not isinstance(mask, bool):
            raise ConfigError(f"{path}: `mask_volatile` must be true or false")
        normalizer = Normalizer(ignore=(*normalizer.ignore, *_strings(path, table, "ignore")), mask_volatile=mask,
                                ignore_headers=_strings(path, table, "ignore_headers"))
        try:
            normalizer = normalizer.with_masks(_strings(path, table, "mask"), backtracking=True)
        except ValueError as err:
            raise ConfigError(f"{path}: {err}") from None
    try:
        return normalizer.with_ignored(extra_ignore).with_masks(masks, backtracking=True)
    except ValueError as err:
        raise ConfigError(f"--mask: {err}") from None


LEVELS = ("benign", "requests_changed", "regression")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens; cached input tokens cost ``cached_input`` instead of ``input``."""

    input: float
    cached_input: float
    output: float


@dataclass(frozen=True)
class DiffSettings:
    """The `diff` table of the settings: rule levels by rule name, a token budget in percent, prices by model."""

    source: Path | None = None
    levels: dict[str, str] = field(default_factory=dict)
    token_budget: float | None = None
    prices: dict[str, Price] = field(default_factory=dict)


def _number(path: Path, value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{path}: `diff.{key}` must be a number of at least 0")
    return float(value)


def _price(path: Path, model: str, table: Any) -> Price:
    where = f"prices.{model}"
    if not isinstance(table, dict) or not {"input", "output"} <= table.keys() or table.keys() - {
            "input", "cached_input", "output"}:
        raise ConfigError(f"{path}: `diff.{where}` must be a table of input, output and optionally cached_input")
    spent = {key: _number(path, value, f"{where}.{key}") for key, value in table.items()}
    return Price(input=spent["input"], cached_input=spent.get("cached_input", spent["input"]), output=spent["output"])


def load_diff_settings(start: Path | None = None) -> DiffSettings:
    """The `diff` table of the nearest settings (checked for types; rule names are checked by rec diff)."""
    found = find_settings(start)
    if found is None:
        return DiffSettings()
    path, settings = found
    table = settings.get("diff", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `diff` must be a table")
    unknown = sorted(table.keys() - {"levels", "token_budget", "prices"})
    if unknown:
        raise ConfigError(f"{path}: unknown key `diff.{unknown[0]}` (known: levels, token_budget, prices)")
    levels = table.get("levels", {})
    if not isinstance(levels, dict) or any(v not in LEVELS for v in levels.values()):
        raise ConfigError(f"{path}: `diff.levels` must map rule names to {', '.join(LEVELS)}")
    prices = table.get("prices", {})
    if not isinstance(prices, dict):
        raise ConfigError(f"{path}: `diff.prices` must be a table of models")
    budget = table.get("token_budget")
    return DiffSettings(source=path, levels=dict(levels),
                        token_budget=None if budget is None else _number(path, budget, "token_budget"),
                        prices={model: _price(path, model, price) for model, price in prices.items()})
