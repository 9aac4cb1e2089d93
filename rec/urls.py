"""How rec writes the origin of an address it listens on or forwards to (one helper, used wherever a URL is made)."""

from __future__ import annotations


def origin(host: str, port: int | None = None, scheme: str = "http") -> str:
    """``scheme://host:port`` (no port when None), an IPv6 address in brackets (RFC 3986 3.2.2) so its colons are
    not read as the port's."""
    bracketed = f"[{host}]" if ":" in host else host
    return f"{scheme}://{bracketed}" + (f":{port}" if port is not None else "")
