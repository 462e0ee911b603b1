"""The client's IP address: the one place that reads ``REMOTE_ADDR`` and ``X-Forwarded-For``.

Rate limits (``RATELIMIT_IP_META_KEY``), consent records and the tracking endpoints (Django views
and the lean WSGI path) all ask here. The rule:

- The direct peer (``REMOTE_ADDR``) is the client unless it is one of ``KANAL_TRUSTED_PROXIES``.
- When it is trusted, ``X-Forwarded-For`` is read from the right: each trusted proxy appended the
  address it saw, so the right-most address that is not itself trusted is the client. Everything
  left of it was written by the client and is never believed.
- A unix-socket peer has no address (``REMOTE_ADDR`` is empty or a path); it is trusted when
  ``KANAL_TRUSTED_PROXIES`` names ``unix``, and the client is unknown (None) otherwise.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNIX = "unix"
# What django-ratelimit counts an unknown client as: one shared bucket, never a server error.
UNKNOWN_CLIENT_BUCKET = "0.0.0.0"  # noqa: S104 (a rate-limit key, not an address to bind)


class TrustedProxies(NamedTuple):
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    unix: bool

    def trust(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@lru_cache(maxsize=8)
def trusted_proxies_parse(entries: tuple[str, ...]) -> TrustedProxies:
    """``KANAL_TRUSTED_PROXIES`` entries as networks; raises ValueError for an entry that is none."""
    networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries if entry != UNIX)
    return TrustedProxies(networks=networks, unix=UNIX in entries)


def trusted_proxies() -> TrustedProxies:
    return trusted_proxies_parse(tuple(settings.KANAL_TRUSTED_PROXIES))


@lru_cache(maxsize=4096)
def parse_address(value: str) -> IPAddress | None:
    """An address as proxies write it (``2001:db8::1``, ``[2001:db8::1]:443``, ``192.0.2.1:80``), or None."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip_from_environ(environ: Mapping[str, str]) -> str | None:
    """The client's address for a WSGI environ (or ``request.META``); None when it cannot be known."""
    trusted = trusted_proxies()
    peer = parse_address(environ.get("REMOTE_ADDR") or "")
    if peer is None:
        if not trusted.unix:
            return None
    elif not trusted.trust(peer):
        return str(peer)
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    found = _right_most_untrusted(reversed(forwarded.split(",")) if forwarded else (), trusted)
    if found is None:
        found = peer
    return str(found) if found is not None else None


def _right_most_untrusted(hops: Iterable[str], trusted: TrustedProxies) -> IPAddress | None:
    """The first untrusted address in ``hops`` (right to left), else the last trusted one before garbage."""
    last_trusted = None
    for hop in hops:
        address = parse_address(hop)
        if address is None:
            break
        if not trusted.trust(address):
            return address
        last_trusted = address
    return last_trusted


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for a Django request; None when it cannot be known (see the module)."""
    return client_ip_from_environ(request.META)


def ratelimit_ip(request: HttpRequest) -> str:
    """``RATELIMIT_IP_META_KEY``: django-ratelimit's ``key="ip"`` counts the same client as everyone else."""
    return client_ip(request) or UNKNOWN_CLIENT_BUCKET
