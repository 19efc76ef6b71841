"""Which hosts are loopback: the only hosts oktasync talks plain http to (the emulator, a local SCIM server).

Shared by the config rules, the Okta gateway's transport and the emulator, so all three agree on what
"loopback" means. Imports nothing else from oktasync.
"""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (with or without URL brackets)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
