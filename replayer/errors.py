"""One error model: every refusal rec answers is a ``Refused``, rendered as the API renders its errors.

Over HTTP an error is ``{"error": {"message", "type", "code", "param"}}`` with its status; on
the Responses WebSocket it is an ``error`` event on an open connection. A pipeline step, the
HTTP adapter (a request too large or too slow) and the ``rec serve`` control API all raise
``Refused``; ``replayer.answers.error_answer`` turns one into the HTTP answer.
"""

from __future__ import annotations

from typing import Any

from rec.cassette import Headers


def error_type(status: int) -> str:
    """The API's error ``type`` for a status: the server's fault from 500 on, the request's below."""
    return "server_error" if status >= 500 else "invalid_request_error"


def api_error(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The API's error object, ``{"error": {...}}``."""
    return {"error": {"message": message, "type": error_type(status), "code": code, "param": param}}


def error_event(status: int | None, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The same error as a WebSocket ``error`` event (``status`` when there is one, as the API sends it)."""
    event: dict[str, Any] = {"type": "error", **api_error(status or 500, code, message, param)}
    if status is not None:
        event["status"] = status
    return event


class Refused(Exception):
    """A request refused: HTTP ``status``, rec's error ``code``, a one-line ``message`` for the client.

    ``param`` names the request field at fault when there is one; ``headers`` go with the HTTP
    answer (``x-should-retry``, ``connection: close``).
    """

    def __init__(self, status: int, code: str, message: str, *, param: str | None = None,
                 headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.headers: Headers = headers or []

    def body(self) -> dict[str, Any]:
        return api_error(self.status, self.code, self.message, self.param)

    def event(self) -> dict[str, Any]:
        """This refusal as a WebSocket ``error`` event (the connection stays open)."""
        return error_event(self.status, self.code, self.message, self.param)


def internal_error(method: str, target: str, err: Exception, headers: Headers | None = None) -> Refused:
    """What rec answers when it fails on a request itself (a bug): a 500 naming the request and the failure, never
    a dropped connection or a refusal blamed on the client."""
    said = " ".join(str(err).split())[:300]  # one line, whatever the exception's text
    return Refused(500, "rec_internal_error", f"rec failed on {method} {target[:200]}: {type(err).__name__}: {said}",
                   headers=headers)
