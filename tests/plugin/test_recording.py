"""The plugin's recorder process (rec.testing.recording.Recorder): ready when it prints its URL, and a child that
never gets there is a clear error. The real recorder's start is in every record-mode test; these children stand in
for a recorder that misbehaves."""

from __future__ import annotations

import sys

import pytest

from rec.testing.recording import Recorder, RecordingError


def child(script: str) -> list[str]:
    """A command whose `record ...` arguments are ignored by a Python child running ``script``."""
    return [sys.executable, "-c", script]


def test_a_recorder_that_exits_before_its_url_is_an_error_with_what_it_said() -> None:
    recorder = Recorder(child("import sys; sys.stderr.write('no such upstream\\n'); sys.exit(2)"), "http://x")
    try:
        with pytest.raises(RecordingError, match="the recorder did not start: no such upstream"):
            recorder.start()
        assert recorder.process is not None and recorder.process.returncode == 2
    finally:
        recorder.close()


def test_the_url_is_read_as_printed_and_what_follows_on_stdout_never_fills_the_pipe() -> None:
    # A megabyte after the URL: with nobody reading the pipe, the child would block on it and never exit.
    script = ("import sys; print('http://127.0.0.1:9/', flush=True); "
              "sys.stdout.write('x' * (1 << 20)); sys.stdout.flush()")
    recorder = Recorder(child(script), "http://x")
    try:
        recorder.start()
        assert recorder.origin == "http://127.0.0.1:9/"
        assert recorder.process is not None
        assert recorder.process.wait(timeout=60) == 0  # a bound for a broken build, not a measure of speed
    finally:
        recorder.stop()
        recorder.close()
