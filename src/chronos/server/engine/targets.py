"""Which addresses a push request may reach, checked on the resolved address at connect time.

Link-local and cloud metadata addresses are always refused. Loopback and private ranges are
allowed (self-hosted users call their own services) unless ``block_private`` is set. The check
runs inside the HTTP client's connection step, on the addresses DNS returned for this very
connection, so a DNS answer that changes between a check and the connect cannot slip past it:
``http_client.GuardedResolver``, for push requests and alert notifications alike.

An IPv6 address that only carries an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-translated ``::ffff:0:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``,
6to4 ``2002::/16``) is judged by the IPv4 address it carries, so none of them is a way around
the rules; a Teredo address's client is checked against the always-refused ranges too.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALWAYS_BLOCKED = [
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local, incl. 169.254.169.254 metadata
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]
# Refused with block_private, besides what ``ipaddress`` calls private, loopback, reserved...
ALSO_PRIVATE = [
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (shared address space)
    ipaddress.ip_network("fec0::/10"),  # IPv6 site-local (deprecated, still routed by some)
]
# IPv6 prefixes whose last 32 bits are an IPv4 address the packet is really for.
IPV4_IN_LAST_32_BITS = [
    ipaddress.ip_network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated)
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64, well-known prefix
]
# Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's prefix
# length; its /96 form is checked against the always-refused ranges.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


class TargetRefused(Exception):
    """The push target resolves to an address Chronos will not call."""


class ResolveFailed(Exception):
    """The push target's host name does not resolve."""


def carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, translated, compatible, NAT64,
    6to4), or None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if int(address) <= 1:
        return None  # ``::`` and ``::1`` are IPv6's own unspecified and loopback addresses
    if any(address in network for network in IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _always_blocked(address: IPAddress) -> bool:
    return any(address in network for network in ALWAYS_BLOCKED)


def _private(address: IPAddress) -> bool:
    return (
        address.is_loopback
        or address.is_private
        or address.is_unspecified
        or address.is_reserved
        or address.is_multicast
        or address.is_link_local
        or any(address in network for network in ALSO_PRIVATE)
    )


def refusal_reason(address: IPAddress, *, block_private: bool) -> str | None:
    """Why Chronos will not call ``address``, or None if it may."""
    carried = carried_ipv4(address)
    judged: IPAddress = carried if carried is not None else address
    suffix = f" (it carries the IPv4 address {carried})" if carried is not None else ""
    hidden: list[IPAddress] = [address, judged]
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            hidden.append(address.teredo[1])  # the Teredo client, de-obfuscated
            if suffix == "":
                suffix = f" (its Teredo client is {address.teredo[1]})"
        if address in LOCAL_NAT64:
            hidden.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if any(_always_blocked(candidate) for candidate in hidden):
        return "link-local or cloud metadata address" + suffix
    if block_private and _private(judged):
        return "private or loopback address (CHRONOS_PUSH_BLOCK_PRIVATE=true)" + suffix
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names without DNS, or None for a host name: an IP literal
    (brackets, an IPv6 zone and a trailing dot are ignored) or an IPv4 address in a form the
    system resolver also reads as one (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``0251.…``)."""
    host = host.strip("[]").rstrip(".").split("%")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not all(part.isalnum() for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):  # not an address; ValueError: a NUL character
        return None


def literal_refusal(host: str) -> str | None:
    """Why a URL whose host is ``host`` can never be called (a link-local or cloud metadata
    address written as such), or None. Host names are judged at send time, on what DNS says."""
    address = literal_address(host)
    return None if address is None else refusal_reason(address, block_private=False)
