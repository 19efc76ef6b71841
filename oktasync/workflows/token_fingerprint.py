"""A salted, one-way fingerprint of the last Bearer token oktasync applied, kept in the state dir.

Okta never returns the SCIM Bearer token (the connection and the admin form only say whether one is set),
so ``plan`` cannot compare it. Instead, after a verified write, we store::

    <state dir>/<tenant>/<app id>/bearer-token.json
    {"algorithm": "scrypt", "n": 16384, "r": 8, "p": 1, "salt": "<32 random bytes, hex>",
     "fingerprint": "<32 bytes, hex>", "applied_at": "2026-…Z", "channel": "admin"}

and on the next plan compare the fingerprint of the config's token with it:

* same → the token Okta holds is the one in the config: no write (re-applying is a no-op);
* different → "token changed": apply writes it;
* no record, or Okta says no token is set → apply writes it.

Why this does not let anyone recover the token (the state dir may sit in a git repository):

* scrypt is a one-way key-derivation function: the only way back from the fingerprint is to guess tokens
  and hash each guess;
* the salt is random per tenant+app, so no precomputed table applies and equal tokens in two tenants give
  unrelated fingerprints;
* scrypt with n=2**14, r=8 costs ~16 MiB and tens of milliseconds per guess, which makes guessing slow;
* vendor service-account tokens are long random strings (far beyond 100 bits), so even fast guessing would
  not finish. (A short, human-chosen token would be guessable from any hash; don't use one.)

A plain SHA-256 of the token would fail the second and third points; an HMAC keyed by a secret we would
have to store somewhere is no better than scrypt here and adds a secret to manage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from oktasync.state import atomic_write_json, read_json
from oktasync.timestamps import utc_seconds

FILE_NAME = "bearer-token.json"
_N, _R, _P, _LEN = 2**14, 8, 1, 32


def _scrypt(token: str, salt: bytes, n: int = _N, r: int = _R, p: int = _P) -> str:
    return hashlib.scrypt(
        token.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=64 * 2**20
    ).hex()


@dataclass(frozen=True)
class TokenRecord:
    """What the state dir remembers about the last applied token (nothing that reveals it)."""

    fingerprint: str
    salt: str
    applied_at: str
    channel: str
    n: int = _N
    r: int = _R
    p: int = _P

    def matches(self, token: str) -> bool:
        candidate = _scrypt(token, bytes.fromhex(self.salt), self.n, self.r, self.p)
        return hmac.compare_digest(candidate, self.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": self.salt,
            "fingerprint": self.fingerprint,
            "applied_at": self.applied_at,
            "channel": self.channel,
        }


def load(app_dir: Path, file_name: str = FILE_NAME) -> TokenRecord | None:
    """The fingerprint kept in ``app_dir/file_name`` (another secret's file for another write-only secret)."""
    doc = read_json(app_dir / file_name)
    if not isinstance(doc, dict) or doc.get("algorithm") != "scrypt":
        return None
    try:
        return TokenRecord(
            fingerprint=str(doc["fingerprint"]),
            salt=str(doc["salt"]),
            applied_at=str(doc.get("applied_at", "")),
            channel=str(doc.get("channel", "")),
            n=int(doc.get("n", _N)),
            r=int(doc.get("r", _R)),
            p=int(doc.get("p", _P)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def make_record(
    token: str, channel: str, *, salt: bytes | None = None, now: datetime | None = None
) -> TokenRecord:
    """A fresh record for ``token`` with a new random salt (or a given one, for tests)."""
    salt = salt if salt is not None else os.urandom(32)
    when = utc_seconds(now)
    return TokenRecord(fingerprint=_scrypt(token, salt), salt=salt.hex(), applied_at=when, channel=channel)


def save(app_dir: Path, record: TokenRecord) -> None:
    atomic_write_json(app_dir / FILE_NAME, record.to_dict())


__all__ = ["FILE_NAME", "TokenRecord", "load", "make_record", "save"]
