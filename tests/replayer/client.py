"""Raw HTTP requests and WebSocket frames to a replay server under test, over plain sockets."""

from __future__ import annotations

import http.client
import json
import socket
import struct
from typing import Any

from replayer.server import ReplayServer


def post(server: ReplayServer, path: str, body: bytes | dict[str, Any] | list[Any],
         headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request to the server (stdlib client): status, lowercased headers, body."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path, body=raw, headers={"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def open_websocket(server: ReplayServer, deflate: bool = False) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    extension = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""
    sock.sendall(b"GET /v1/responses HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extension + b"\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def client_frame(payload: bytes, opcode: int = 1, rsv1: bool = False, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2), with the zero mask so the payload reads as is."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + b"\0\0\0\0" + payload


def close_code(sock: socket.socket) -> int:
    """The code of the server's close frame, skipping any data frames before it."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without a close frame: {data[:80]!r}")
        data += chunk
        while len(data) >= 2:
            opcode, length = data[0] & 0x0F, data[1] & 0x7F
            offset = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if length == 126:
                length = struct.unpack("!H", data[2:4])[0]
            elif length == 127:
                length = struct.unpack("!Q", data[2:10])[0]
            if len(data) < offset + length:
                break
            if opcode == 8:
                return int(struct.unpack("!H", data[offset:offset + 2])[0])
            data = data[offset + length:]
