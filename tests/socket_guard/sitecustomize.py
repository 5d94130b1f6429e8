"""Loaded by every Python process the tests start (PYTHONPATH): refuse non-loopback sockets.

Tests must never reach the internet or a private network: only 127.0.0.0/8, ::1 and Unix sockets,
plus the hosts named in ``HUBCLI_TEST_ALLOW_HOSTS`` (comma-separated; for running the
object-storage tests against an external MinIO or Ceph endpoint).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

_ALLOWED = {h.strip().lower() for h in os.environ.get("HUBCLI_TEST_ALLOW_HOSTS", "").split(",")}
_ALLOWED.discard("")


def _allowed(family: int, address: Any) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets, socketpairs
    host = str(address[0]).lower() if isinstance(address, tuple) else str(address).lower()
    if host in _ALLOWED or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    if getattr(socket.socket, "_hubcli_guarded", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _allowed(self.family, address):
            raise ConnectionRefusedError(f"test socket guard: {address!r} is not loopback")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _allowed(self.family, address):
            raise ConnectionRefusedError(f"test socket guard: {address!r} is not loopback")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket._hubcli_guarded = True  # type: ignore[attr-defined]


if os.environ.get("HUBCLI_TEST_SOCKET_GUARD") == "1":
    install()
