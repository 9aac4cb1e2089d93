"""The replaying side of rec: serves cassettes as a mock Responses server. Never imports mitmproxy.

The public names below load on first use, so `import replayer` (done by the `rec` CLI
for every command) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ReplayServer": "replayer.server",
    "error_answer": "replayer.answers",
    "Refused": "replayer.errors",
    "parse_timing": "replayer.pacing",
    "MatchMode": "replayer.match_modes",
    "Rule": "replayer.matching",
    "NoMatch": "replayer.matching",
    "sse_answer": "replayer.answers",
    "json_answer": "replayer.answers",
    "compile_exchange": "replayer.answers",
    "WebSocketAnswer": "replayer.answers",
    "RequestLog": "replayer.request_log",
    "ResponsesRequest": "replayer.request_log",
    "WebSocketRequest": "replayer.request_log",
    "WebSocketHandshake": "replayer.request_log",
    "Report": "replayer.report",
    "validate_request_body_invariants": "replayer.invariants",
    "InvariantViolation": "replayer.invariants",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'replayer' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
