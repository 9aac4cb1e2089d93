"""What loading rec's plugin costs a pytest process: nothing of the replay core until a test asks for rec, and
rec's modules load as installed, not assertion-rewritten (pytest runs in a subprocess)."""

from __future__ import annotations

import textwrap

import pytest

from tests.plugin.support import hello_cassette

INNER_TEST = '''
import importlib
import sys

import pytest


def loader_of(name):
    return type(importlib.import_module(name).__loader__).__name__


def test_a_test_without_rec_leaves_the_replay_core_unimported():
    assert "rec.testing.plugin" in sys.modules
    assert [name for name in ("rec.cassette", "replayer.core", "rec.testing.replaying") if name in sys.modules] == []


@pytest.mark.rec(allow_unused=True)
def test_a_test_with_rec_gets_its_replay(rec_server):
    assert rec_server.mode == "replay" and "replayer.core" in sys.modules


def test_rec_modules_load_from_their_bytecode():
    # Imported by the plugin for the test above, then one imported only now, under the hook pytest keeps installed.
    assert [loader_of(name) for name in ("rec.cassette", "replayer.core", "rec.check.streams")] == [
        "SourceFileLoader"] * 3


def test_the_tests_own_asserts_are_still_rewritten():
    assert loader_of(__name__) == "AssertionRewritingHook"
'''


def test_the_plugin_imports_rec_when_a_test_asks_and_leaves_its_modules_as_installed(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    folder = pytester.path / "cassettes" / "test_inner"
    folder.mkdir(parents=True)
    hello_cassette(folder / "test_a_test_with_rec_gets_its_replay.mpk")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)
