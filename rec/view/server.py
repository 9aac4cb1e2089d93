"""The page served live: a standard-library HTTP server on 127.0.0.1 that answers `/` with the page."""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rec.urls import origin


class PageServer:
    """Serves one page at ``/`` (and ``/index.html``) from a thread until ``close``; anything else is a 404."""

    def __init__(self, page: str, host: str = "127.0.0.1", port: int = 0) -> None:
        body = page.encode("utf-8")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, send_body: bool) -> None:
                found = self.path.partition("?")[0] in ("/", "/index.html")
                content = body if found else b"not found: rec view serves its page at /\n"
                self.send_response(HTTPStatus.OK if found else HTTPStatus.NOT_FOUND)
                self.send_header("Content-Type", "text/html; charset=utf-8" if found else "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if send_body:
                    self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the URL on stdout is all the command prints."""

        self.host, self.port = host, port
        self._server = ThreadingHTTPServer((host, port), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rec-view", daemon=True)

    @property
    def url(self) -> str:
        return f"{origin(self.host, self._server.server_address[1])}/"

    def open(self) -> PageServer:
        """Listen (OSError when the address is taken) and serve from a thread."""
        try:
            self._server.server_bind()
            self._server.server_activate()
        except OSError:
            self._server.server_close()
            raise
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    # The shape `rec.cli.running.run_until_signal` drives, as it does the replay servers.
    async def start(self) -> PageServer:
        return self.open()

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> PageServer:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
