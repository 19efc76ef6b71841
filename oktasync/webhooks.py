"""Where a webhook may go (docs/tasks.md "Webhook addresses"), checked twice.

* **In the config** (``url_problem``): https only; plain http only to a loopback host (a local receiver in
  tests); an address written as an IP must not be private, link-local, a cloud metadata address or
  otherwise non-public unless the target sets ``allow_private_address: true``.
* **At send time** (``post``): the host name is resolved, *every* address it resolves to is checked by the
  same rule, and the request connects to the checked address (TLS still verifies the certificate for the
  name). A name that answers with a public address when the config is checked and with 169.254.169.254 when
  the message is sent (DNS rebinding) is refused.

Messages never quote the URL: a webhook URL carries its token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from oktasync.loopback import is_loopback_host

# Cloud instance metadata services: refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


class WebhookRefused(Exception):
    """The webhook's address is not allowed; the message names the address class, never the URL."""


def address_problem(address: str, *, allow_private: bool = False) -> str | None:
    """Why a webhook may not connect to ``address`` (an IP), or None."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return f"resolves to a cloud metadata address ({ip})"
    if ip.is_loopback:
        return None if allow_private else f"resolves to a loopback address ({ip})"
    if ip.is_link_local:
        return f"resolves to a link-local address ({ip})"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return f"resolves to a non-routable address ({ip})"
    if ip.is_private or not ip.is_global:
        if allow_private:
            return None
        return (
            f"resolves to a private address ({ip}); set allow_private_address: true on the target to allow it"
        )
    return None


def url_problem(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` cannot be a webhook, or None (checked without resolving names)."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # both parse lazily and raise on a bad host or port
    except ValueError:
        return "is not a valid URL (bad host or port)"
    if parts.scheme not in ("http", "https") or not host:
        return "is not an http(s) URL with a host"
    if any(char.isspace() for char in url.strip()):
        return "contains whitespace"
    if parts.scheme == "http" and not is_loopback_host(host):
        return "must use https (plain http only to a loopback address, for tests)"
    if is_loopback_host(host):
        return None  # a receiver on this machine, named as such
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked when resolved, at send time
    return address_problem(host, allow_private=allow_private)


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise WebhookRefused(f"the webhook host could not be resolved ({error.strerror or error})") from None
    return sorted({str(info[4][0]) for info in infos})


async def pinned_request(
    url: str, *, allow_private: bool = False
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to connect to (the checked address in place of the name), the Host header and the request
    extensions (TLS server name) for ``url``; raises ``WebhookRefused``."""
    why = url_problem(url, allow_private=allow_private)
    if why:
        raise WebhookRefused(f"the webhook URL {why}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        return url, {}, {}
    try:
        ipaddress.ip_address(host)
        return url, {}, {}  # an address, already checked
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    problems = [
        why for address in addresses if (why := address_problem(address, allow_private=allow_private))
    ]
    if problems or not addresses:
        raise WebhookRefused(f"the webhook host {problems[0] if problems else 'has no address'}")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    # Connection: close: a pooled connection is keyed by address, and one verified for another name on the
    # same address must not carry this request.
    return pinned, {"Host": host_header, "Connection": "close"}, {"sni_hostname": host}


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    json: Any,
    headers: dict[str, str] | None = None,
    allow_private: bool = False,
) -> httpx.Response:
    """POST ``json`` to the webhook ``url`` over a connection to an address that passed the check."""
    target, host_headers, extensions = await pinned_request(url, allow_private=allow_private)
    return await client.post(
        target, json=json, headers={**(headers or {}), **host_headers}, extensions=extensions
    )
