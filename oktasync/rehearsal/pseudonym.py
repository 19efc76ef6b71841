"""Consistent pseudonyms for a snapshot: a keyed hash (HMAC-SHA256) with a random key per snapshot.

The key lives only in memory while the snapshot is taken, so nobody can map a pseudonym back, not even
with the snapshot in hand; but within one snapshot the same value always gets the same pseudonym. Logins,
emails and SCIM userNames are hashed case-insensitively (Okta's login and the target's userName lookup
both ignore case), so an Okta email and the target's userName that match still match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PSEUDONYM_DOMAIN = "pseudonym.invalid"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Pseudonymiser:
    """Maps real values to pseudonyms. ``enabled=False`` keeps every value (``--no-pseudonymise``)."""

    def __init__(self, *, enabled: bool = True, key: bytes | None = None) -> None:
        self.enabled = enabled
        self._key = key or secrets.token_bytes(32)

    def _digest(self, kind: str, value: str, length: int) -> str:
        mac = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:length]

    def id(self, value: str | None, prefix: str) -> str | None:
        """An Okta-shaped id (``00u``, ``00g``, ``0oa`` … plus 17 characters)."""
        if value is None or not self.enabled:
            return value
        return prefix + self._digest("id", value, 17)

    def address(self, value: str | None) -> str | None:
        """A login, email or userName: an address under a reserved domain (RFC 2606 ``.invalid``)."""
        if value is None or not self.enabled:
            return value
        return f"u{self._digest('address', value.strip().lower(), 12)}@{PSEUDONYM_DOMAIN}"

    def name(self, value: str | None, kind: str) -> str | None:
        """A person's or group's name: ``Given-3fa94c``, ``group-1b2c3d4e5f``."""
        if value is None or not self.enabled:
            return value
        return f"{kind}-{self._digest(kind, value, 10 if kind == 'group' else 6)}"

    def text(self, value: str | None, names: tuple[str | None, ...] = ()) -> str | None:
        """Free text (a push failure's reason): every address in it and the given names replaced."""
        if value is None or not self.enabled:
            return value
        out = _EMAIL.sub(lambda m: str(self.address(m.group(0))), value)
        for name in sorted((n for n in names if n and len(n) > 1), key=len, reverse=True):
            out = out.replace(name, "(name)")
        return out
