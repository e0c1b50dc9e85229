"""Loaded by every Python subprocess the tests start: refuse any non-local connection."""

import os
import socket

LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def make_guard(connect):
    """Wrap socket.connect so that only loopback and unix sockets get through."""

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or str(host) in LOCAL_HOSTS:
            return connect(self, address)
        raise RuntimeError(f"network guard: test tried to connect to {address!r}")

    return guarded


if os.environ.get("NLPKIT_NETGUARD") == "1":
    socket.socket.connect = make_guard(socket.socket.connect)
