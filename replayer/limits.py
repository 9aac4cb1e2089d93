"""What one client may send the replay server before it is refused, and how long it may take.

Every limit has a default sized far above what the Responses API and its clients send
(Codex's largest requests are a few MB), and can be raised with ``rec replay --limit
NAME=VALUE``. Past a limit the client gets a clear answer (413, 414, 431, 408, or a
WebSocket close 1009) and every other client goes on being served.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "s": 1, "ms": 0.001}


@dataclass(frozen=True)
class Limits:
    """Sizes in bytes and times in seconds."""

    body: int = 64 * 1024**2  # a request body as sent (413)
    decoded_body: int = 256 * 1024**2  # a body after its Content-Encoding is undone (413): bounds a zstd bomb
    url: int = 16 * 1024  # the request target (414)
    header_bytes: int = 64 * 1024  # all header names and values of one request (431)
    headers: int = 200  # how many headers one request may have (431)
    websocket_message: int = 64 * 1024**2  # one WebSocket message, after permessage-deflate (close 1009)
    request_timeout: float = 60.0  # from a request's first byte to its last (408): no slowloris
    idle_timeout: float = 600.0  # an HTTP connection with no request in flight is closed after this

    def with_settings(self, settings: list[str]) -> Limits:
        """These limits with ``NAME=VALUE`` settings applied (``body=128MiB``, ``request_timeout=5s``)."""
        changes: dict[str, Any] = {}  # each value parsed for its field's type
        names = {field.name: field.type for field in dataclasses.fields(self)}
        for setting in settings:
            name, _, value = setting.partition("=")
            name = name.strip().replace("-", "_")
            if name not in names:
                raise ValueError(f"unknown limit {name!r} in {setting!r}: use one of {', '.join(names)}")
            changes[name] = _parse_amount(setting, value, names[name] == "float")
        return dataclasses.replace(self, **changes)


def _parse_amount(setting: str, text: str, seconds: bool) -> float | int:
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = found.group(2).lower() if found else ""
    is_time_unit = unit in ("s", "ms")
    if found is None or unit not in _UNITS or (is_time_unit and not seconds) or (seconds and unit and not is_time_unit):
        what = "seconds (e.g. 30 or 30s or 500ms)" if seconds else "a size (e.g. 1048576, 512KiB or 128MiB)"
        raise ValueError(f"limit {setting!r}: the value must be {what}")
    amount = float(found.group(1)) * _UNITS[unit]
    if amount <= 0:
        raise ValueError(f"limit {setting!r}: must be more than 0")
    return amount if seconds else int(amount)
