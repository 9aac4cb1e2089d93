"""A small client of `rec serve`'s control API (standard library only), for tests in Python.

    with ServeProcess() as serve:                      # or RecServe("http://127.0.0.1:PORT")
        session = serve.create_session(cassettes=["cassettes/run.mpk"], match="body")
        client = OpenAI(base_url=session.base_url, api_key="test")
        ...
        report = session.delete()                      # the final report, as `rec replay --report`
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class ServeError(Exception):
    """The control API refused a request; ``code`` is rec's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class RecServe:
    """A running `rec serve`, addressed by its control URL."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/__rec{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            error = json.loads(err.read() or b"{}").get("error", {})
            raise ServeError(err.code, error.get("code", "?"), error.get("message", "")) from None

    def health(self) -> dict[str, Any]:
        return self.call("GET", "/health")

    def create_session(self, **options: Any) -> Session:
        """A session from `rec replay`'s options (cassettes=[...], match=..., ...) or scenario={...}."""
        created = self.call("POST", "/sessions", options)
        return Session(self, created["id"], created["base_url"])


@dataclass
class Session:
    """One replay session: its base URL for clients, and its journal and report."""

    serve: RecServe
    id: str
    base_url: str

    def requests(self) -> dict[str, Any]:
        return self.serve.call("GET", f"/sessions/{self.id}/requests")

    def report(self) -> dict[str, Any]:
        return self.serve.call("GET", f"/sessions/{self.id}/report")

    def delete(self) -> dict[str, Any]:
        """End the session; its final report."""
        return self.serve.call("DELETE", f"/sessions/{self.id}")


class ServeProcess(RecServe):
    """`rec serve` started as a child process for the length of a ``with`` block."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "rec", "serve", "--quiet", *args],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        url = self.process.stdout.readline().strip()
        if not url.startswith("http://"):
            self.process.kill()
            raise ServeError(0, "rec_not_started", f"rec serve did not start (exit {self.process.wait()})")
        super().__init__(url)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
