"""The world's address plan and its one hard rule: everything binds on 127.0.0.0/8 only.

Infrastructure (clock/control, RDAP, SMTP, the Tor gateway, webhooks, DNS) lives in 127.1.0.0/24.
Provider i owns 127.(64+i).0.0/16 and its sites take 127.(64+i).0.1, .2, ...; registrars own
127.(32+j).0.0/16. All TCP services share one port number on their different addresses, so a
world is named by (addresses, port) and several worlds can run side by side on different ports.
"""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
INFRA_NETWORK = ipaddress.ip_network("127.1.0.0/24")
PROVIDER_BASE = 64  # second octet of provider 0
REGISTRAR_BASE = 32  # second octet of registrar 0
ALLOW_NETWORKS = ("127.64.0.0/10",)  # where every site (provider or CDN) has its address

INFRA = {
    "control": "127.1.0.1",
    "rdap": "127.1.0.2",
    "tor": "127.1.0.4",
    "webhooks": "127.1.0.5",
    "hashsharing": "127.1.0.6",
    "smtp": "127.1.0.25",
    "dns": "127.1.0.53",
}


class LoopbackOnlyError(ValueError):
    """Raised before any socket is opened on an address outside 127.0.0.0/8."""


def require_loopback(host: str) -> str:
    """Refuse anything but a literal IPv4 loopback address (names could resolve elsewhere)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise LoopbackOnlyError(
            f"the world binds literal 127.x.y.z addresses only, not {host!r}"
        ) from exc
    if addr.version != 4 or addr not in LOOPBACK:
        raise LoopbackOnlyError(f"the world binds on 127.0.0.0/8 only, not {host}")
    return host


def provider_network(index: int) -> ipaddress.IPv4Network:
    if index + PROVIDER_BASE > 127:
        raise ValueError("at most 64 providers fit in 127.64.0.0/10")
    return ipaddress.IPv4Network(f"127.{PROVIDER_BASE + index}.0.0/16")


def registrar_network(index: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"127.{REGISTRAR_BASE + index}.0.0/16")


def host_address(network: ipaddress.IPv4Network, n: int) -> str:
    """The n-th (0-based) host address of a network, skipping .0 and .255 of each /24."""
    return str(network.network_address + (n // 254) * 256 + n % 254 + 1)


def tcp_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, after the loopback check."""
    require_loopback(host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def udp_socket(host: str, port: int) -> socket.socket:
    require_loopback(host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def free_port(host: str = INFRA["control"]) -> int:
    """An ephemeral port that is free on `host` now (the world then tries it on every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((require_loopback(host), 0))
        return int(probe.getsockname()[1])
