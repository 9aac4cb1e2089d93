"""The dependency rule of docs/architecture.md: commands -> features -> the cassette format, never back."""

from __future__ import annotations

import subprocess
import sys

import pytest

FEATURES = ("recorder", "replayer", "rec.cli", "rec.synth", "rec.testing", "rec.diff", "rec.show")


def modules_loaded_by(module: str) -> set[str]:
    script = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.parametrize("shared", ["rec.cassette", "rec.encoding", "rec.sse", "rec.normalize", "rec.config"])
def test_the_format_and_shared_pieces_import_no_feature(shared: str) -> None:
    loaded = modules_loaded_by(shared)
    assert not {m for m in loaded if m.startswith(FEATURES)}, sorted(m for m in loaded if m.startswith(FEATURES))


@pytest.mark.parametrize("feature", ["replayer.server", "rec.synth.scenario", "rec.diff"])
def test_features_import_no_command_and_the_replayer_no_mitmproxy(feature: str) -> None:
    loaded = modules_loaded_by(feature)
    assert not {m for m in loaded if m.startswith(("rec.cli", "mitmproxy"))}


@pytest.mark.parametrize("feature", ["rec.check", "rec.synth.scenario", "rec.diff", "rec.show"])
def test_the_cassette_features_need_neither_the_recorder_nor_the_replayer(feature: str) -> None:
    loaded = modules_loaded_by(feature)
    assert not {m for m in loaded if m.startswith(("recorder", "replayer"))}, sorted(
        m for m in loaded if m.startswith(("recorder", "replayer")))
