"""Record (and refuse) any network use in this process while the dlt peer runs."""
from __future__ import annotations

import contextlib
import ipaddress
import socket


def _is_local(address) -> bool:
    if not isinstance(address, tuple):      # AF_UNIX path
        return True
    host = str(address[0])
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextlib.contextmanager
def no_network(attempts: list[str]):
    """Within the block, a DNS lookup or a connection to a non-loopback address is appended to
    `attempts` and fails with OSError, as it would on an offline machine."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if not _is_local(address):
            attempts.append(f"connect {address!r}")
            raise OSError("bench: network refused while measuring the dlt peer")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_local((host,)):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror("bench: DNS refused while measuring the dlt peer")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo
