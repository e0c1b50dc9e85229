"""Loaded by every Python subprocess the tests start: refuse any non-local connection."""

import os

if os.environ.get("NLPKIT_NETGUARD") == "1":
    import socket

    _connect = socket.socket.connect

    def _guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or str(host) in ("127.0.0.1", "::1", "localhost"):
            return _connect(self, address)
        raise RuntimeError(f"network guard: test tried to connect to {address!r}")

    socket.socket.connect = _guarded_connect
