"""Credentials for the Management API: an SSWS API token, or an OAuth 2.0 service app (private_key_jwt).

The ``Authorization`` value is built here, with the space the generated SDK client forgets
(``Configuration.auth_settings`` concatenates ``"SSWS" + token``; docs/okta-behaviour.md, Okta's Python SDK):
``SSWS <token>`` and
``Bearer <access token>``.

OAuth (Okta's recommended auth for automation): a client assertion JWT signed with the service app's private
key (``iss`` = ``sub`` = client id, ``aud`` = the org's token URL, short ``exp``, unique ``jti``) is exchanged
at ``{org}/oauth2/v1/token`` for a client-credentials access token, which is renewed before it expires.
We mint the assertion with PyJWT instead of using the SDK's ``PrivateKey`` mode because that mode lives in the
SDK's ``RequestExecutor``/``OAuth`` classes: importing them costs ~0.8 s (jwcrypto, pycryptodomex), their
token request would bypass our pacing, retry, request counting and error translation, and the resulting API
requests would carry its ``Authorization`` header through the same code that drops the space for SSWS.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oktasync.config.secret import remember_secret
from oktasync.errors import AuthError, ConfigError, OktaApiError, Problem

if TYPE_CHECKING:
    from oktasync.config.schema import OAuthConfig
    from oktasync.okta_gateway.transport import OktaTransport

TOKEN_PATH = "/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # seconds; Okta accepts at most one hour
RENEW_BEFORE = 300  # renew an access token this long before it expires


class SswsAuth:
    """An API token: ``Authorization: SSWS <token>``."""

    def __init__(self, token: str) -> None:
        self._header = f"SSWS {token}"

    async def header(self, transport: OktaTransport) -> str:
        return self._header

    def invalidate(self) -> bool:
        return False  # a rejected API token stays rejected

    def __repr__(self) -> str:
        return "SswsAuth((sensitive))"


def _load_key(path: str) -> tuple[Any, str]:
    """The private key and its JWS algorithm (RS256 for RSA; ES256/384/512 by curve). Raises ConfigError."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    file = Path(path).expanduser()
    where = "okta.oauth.private_key_file"
    try:
        key = load_pem_private_key(file.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError([Problem(where, None, None, f"cannot read {file}: {exc.strerror}", None)]) from exc
    except (ValueError, TypeError) as exc:
        problem = Problem(
            where, None, None, f"{file} is not an unencrypted PEM private key", "export it as PKCS#8"
        )
        raise ConfigError([problem]) from exc
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithms = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in algorithms:
            return key, algorithms[key.curve.name]
    raise ConfigError(
        [Problem(where, None, None, f"{file}: Okta accepts RSA or EC (P-256/384/521) keys", None)]
    )


class PrivateKeyJwtAuth:
    """An OAuth 2.0 service app authenticating with private_key_jwt; caches and renews its access token."""

    def __init__(
        self,
        client_id: str,
        private_key_file: str,
        scopes: list[str],
        *,
        key_id: str | None = None,
        clock: Any = time,
    ) -> None:
        self.client_id = client_id
        self.scopes = list(scopes)
        self.key_id = key_id
        self._key, self._algorithm = _load_key(private_key_file)
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None
        self.minted = 0  # access tokens obtained (tests and reports)

    @classmethod
    def from_config(cls, oauth: OAuthConfig) -> PrivateKeyJwtAuth:
        return cls(oauth.client_id, oauth.private_key_file, oauth.scopes, key_id=oauth.key_id)

    def assertion(self, audience: str) -> str:
        import jwt

        now = int(time.time())  # the assertion is checked against the server's clock, not an injected one
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": str(uuid.uuid4()),
        }
        headers = {"kid": self.key_id} if self.key_id else None
        signed = jwt.encode(claims, self._key, algorithm=self._algorithm, headers=headers)
        remember_secret(signed)  # a bearer credential for its lifetime: never in an error or log line
        return signed

    async def header(self, transport: OktaTransport) -> str:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock.time() >= self._expires:
                await self._mint(transport)
            assert self._token is not None
            return f"Bearer {self._token}"

    async def _mint(self, transport: OktaTransport) -> None:
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(self.scopes),
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(transport.org_url + TOKEN_PATH),
        }
        try:
            doc = await transport.json(
                "POST",
                TOKEN_PATH,
                form=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                authenticate=False,
            )
        except OktaApiError as exc:
            d = exc.details
            why = f"{d.error_code or d.status} {d.summary or ''}".rstrip()
            raise AuthError(
                f"Okta refused the OAuth client {self.client_id!r}: {why}",
                d,
                hint="check okta.oauth: client_id, the key registered on the service app (key_id), and that "
                f"the app is granted the scopes {' '.join(self.scopes)}; DPoP must be off for the app",
            ) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise AuthError("Okta's token endpoint answered without an access_token")
        if str(doc.get("token_type", "Bearer")).lower() != "bearer":
            raise AuthError(
                f"Okta issued a {doc.get('token_type')} token; oktasync supports Bearer tokens only",
                hint="turn off 'Require DPoP' on the service app",
            )
        lifetime = float(doc.get("expires_in") or 3600)
        self._token = doc["access_token"]
        remember_secret(self._token)
        self._expires = self._clock.time() + max(lifetime - RENEW_BEFORE, lifetime / 2)
        self.minted += 1

    def invalidate(self) -> bool:
        self._token = None
        return True

    def __repr__(self) -> str:
        return f"PrivateKeyJwtAuth(client_id={self.client_id!r})"
