"""rec's modules load as installed under pytest, not assertion-rewritten (a pytest run in a subprocess)."""

from __future__ import annotations

import textwrap

import pytest

INNER_TEST = '''
import importlib


def loader_of(name):
    return type(importlib.import_module(name).__loader__).__name__


def test_rec_modules_load_from_their_bytecode():
    # Imported by the plugin at its start, then one imported only now, under the hook pytest keeps installed.
    assert [loader_of(name) for name in ("rec.cassette", "replayer.core", "rec.check.streams")] == [
        "SourceFileLoader"] * 3


def test_the_tests_own_asserts_are_still_rewritten():
    assert loader_of(__name__) == "AssertionRewritingHook"
'''


def test_pytest_rewrites_the_tests_asserts_and_leaves_rec_as_installed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
