"""`rec view` as a user runs it: a file with -o, a served page until a signal, one-line errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REC = [sys.executable, "-m", "rec"]


def run_rec(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REC, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_writes_one_self_contained_page(tmp_path: Path, codex_cassette: Path) -> None:
    page = tmp_path / "out" / "page.html"
    page.parent.mkdir()
    result = run_rec("view", codex_cassette, "-o", page)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"rec view: wrote {page} (5 exchange(s), ")
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "Add a greeting to hello.py" in html


def test_with_a_report_and_no_cassettes_the_reports_are_shown(tmp_path: Path, replay_report: Path) -> None:
    page = tmp_path / "report.html"
    result = run_rec("view", "--report", replay_report, "-o", page)
    assert result.returncode == 0, result.stderr
    assert '"drifted"' in page.read_text()


@pytest.mark.parametrize(("args", "error"), [
    ((), "give cassettes to show (rec view FILE...), or --report FILE"),
    (("missing.mpk",), "missing.mpk: no such file"),
    (("{readme}",), "not a cassette: it is not zstd-compressed"),
    (("{cassette}", "-o", "x.html", "--port", "0"), "give -o PAGE.html (write a file) or --port (serve), not both"),
    (("{cassette}", "--report", "nope.json"), "nope.json: no such report file"),
    (("{cassette}", "-o", "{folder}/no/such/dir/page.html"), "cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, codex_cassette: Path, args: tuple[str, ...],
                                          error: str) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# not a cassette\n")
    filled = [a.format(cassette=codex_cassette, readme=readme, folder=tmp_path) for a in args]
    result = subprocess.run([*REC, "view", *filled], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("rec: error: ")
    assert error in result.stderr
    assert "Traceback" not in result.stderr


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers["content-type"], answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["content-type"], err.read().decode()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_the_page_on_loopback_until_a_signal(codex_cassette: Path, tmp_path: Path, signum: int) -> None:
    page = tmp_path / "page.html"
    assert run_rec("view", codex_cassette, "-o", page).returncode == 0
    process = subprocess.Popen([*REC, "view", str(codex_cassette)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        status, kind, served = get(url)
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert served == page.read_text()  # the same page as the file
        assert get(url + "favicon.ico")[0] == 404
    finally:
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stderr == ""


def test_a_port_in_use_is_a_one_line_error(codex_cassette: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_rec("view", codex_cassette, "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.startswith(f"rec: error: cannot listen on 127.0.0.1:{port}: address already in use")
    assert result.stderr.count("\n") == 1
