"""Fixtures for recording tests: the stand-in upstream and `rec record` as a real subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.recorder.support import Recorder, start_recorder
from tests.support.upstream import Upstream, running_upstream


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with running_upstream() as server:
        yield server


@pytest.fixture
def recorder(upstream: Upstream, tmp_path: Path) -> Iterator[Recorder]:
    rec = start_recorder(upstream.url, tmp_path / "run.mpk")
    try:
        yield rec
    finally:
        if rec.process.poll() is None:
            rec.process.kill()
            rec.process.communicate(timeout=10)
