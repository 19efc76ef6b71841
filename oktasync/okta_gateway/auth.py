"""Credentials for the Management API: an SSWS API token, or an OAuth 2.0 service app (private_key_jwt),
optionally with DPoP-bound access tokens.

The ``Authorization`` value is built here, with the space the generated SDK client forgets
(``Configuration.auth_settings`` concatenates ``"SSWS" + token``; docs/okta-behaviour.md, Okta's Python SDK):
``SSWS <token>``, ``Bearer <access token>`` and ``DPoP <access token>``.

OAuth (Okta's recommended auth for automation): a client assertion JWT signed with the service app's private
key (``iss`` = ``sub`` = client id, ``aud`` = the org's token URL, short ``exp``, unique ``jti``) is exchanged
at ``{org}/oauth2/v1/token`` for a client-credentials access token, which is renewed before it expires.
We mint the assertion with PyJWT instead of using the SDK's ``PrivateKey`` mode because that mode lives in the
SDK's ``RequestExecutor``/``OAuth`` classes: importing them costs ~0.8 s (jwcrypto, pycryptodomex), their
token request would bypass our pacing, retry, request counting and error translation, and the resulting API
requests would carry its ``Authorization`` header through the same code that drops the space for SSWS.

DPoP (RFC 9449; ``okta.oauth.dpop: true``; docs/okta-behaviour.md "Authentication and errors"): Okta can
require a service app's access tokens to be DPoP-bound. ``DpopProver`` holds a P-256 key generated in memory
for this process (never written anywhere) and signs a fresh proof for every attempt of every request: header
``typ: dpop+jwt``, ``alg: ES256`` and the public ``jwk``; claims ``jti`` (unique), ``htm``, ``htu`` (the URL
without query or fragment), ``iat``, ``ath`` (the access token's SHA-256) on API requests, and ``nonce``
when the server gave one. The token request carries a proof; Okta answers the first one ``400
use_dpop_nonce`` with a ``DPoP-Nonce`` header, and the request is sent again at once with that nonce (and a
fresh client assertion). The token comes back as ``token_type: DPoP`` and API calls send
``Authorization: DPoP <token>`` with a proof. An API answer ``401`` with ``WWW-Authenticate: DPoP
error="use_dpop_nonce"`` is retried once with the nonce it carries; any ``DPoP-Nonce`` header seen on an
answer replaces the nonce kept for that server (the token endpoint and the API each have their own).
Proofs are registered as secrets: they never appear in output or logs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from oktasync.config.secret import remember_secret
from oktasync.errors import AuthError, ConfigError, OktaApiError, Problem

if TYPE_CHECKING:
    import httpx

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

    async def headers(self, transport: OktaTransport, method: str, url: str) -> dict[str, str]:
        return {"Authorization": self._header}

    def invalidate(self) -> bool:
        return False  # a rejected API token stays rejected

    def challenged(self, response: httpx.Response) -> bool:
        return False

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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def proof_target(url: str) -> str:
    """``htu``: the request URL without query and fragment (RFC 9449 section 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII bytes (RFC 9449 section 4.2)."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


def _www_authenticate_error(response: httpx.Response) -> str | None:
    """The ``error`` of a ``WWW-Authenticate: DPoP ...`` challenge, if the answer has one."""
    for value in response.headers.get_list("www-authenticate"):
        scheme, _, params = value.strip().partition(" ")
        if scheme.lower() != "dpop":
            continue
        for part in params.split(","):
            name, _, quoted = part.strip().partition("=")
            if name.strip().lower() == "error":
                return quoted.strip().strip('"')
    return None


def _oauth_error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    return str(body.get("error")) if isinstance(body, dict) and body.get("error") else None


class DpopProver:
    """Signs DPoP proofs (RFC 9449 section 4) with a P-256 key generated for this process, and keeps the
    nonces the servers hand out (``TOKEN`` for the token endpoint, ``API`` for the Management API)."""

    TOKEN = "token"
    API = "api"

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        numbers = self._key.public_key().public_numbers()
        self.public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        self.nonces: dict[str, str] = {}
        self.signed = 0  # proofs made (tests and reports)

    def proof(self, method: str, url: str, *, server: str, access_token: str | None = None) -> str:
        """A fresh proof for one attempt of ``method url`` (to ``server``: ``TOKEN`` or ``API``)."""
        import jwt

        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method.upper(),
            "htu": proof_target(url),
            "iat": int(time.time()),  # checked against the server's clock, not an injected one
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        nonce = self.nonces.get(server)
        if nonce:
            claims["nonce"] = nonce
        signed = jwt.encode(
            claims, self._key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.public_jwk}
        )
        remember_secret(signed)  # with the token it proves possession for: never in output or logs
        self.signed += 1
        return signed

    def challenged(self, response: httpx.Response, *, server: str) -> bool:
        """Learn the answer's ``DPoP-Nonce``; True when the answer asks for the request again with it: the
        token endpoint's ``400 use_dpop_nonce``, the API's ``401`` ``WWW-Authenticate: DPoP
        error="use_dpop_nonce"``."""
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonces[server] = nonce
        if not nonce:
            return False
        if server == self.TOKEN:
            return response.status_code == 400 and _oauth_error(response) == "use_dpop_nonce"
        return response.status_code == 401 and _www_authenticate_error(response) == "use_dpop_nonce"

    def __repr__(self) -> str:
        return "DpopProver((sensitive))"


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
        dpop: bool = False,
    ) -> None:
        self.client_id = client_id
        self.scopes = list(scopes)
        self.key_id = key_id
        self._key, self._algorithm = _load_key(private_key_file)
        self._clock = clock
        self._token: str | None = None
        self._scheme = "Bearer"  # or "DPoP": the token_type Okta issued
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None
        self.dpop = DpopProver() if dpop else None
        self.minted = 0  # access tokens obtained (tests and reports)

    @classmethod
    def from_config(cls, oauth: OAuthConfig) -> PrivateKeyJwtAuth:
        return cls(
            oauth.client_id, oauth.private_key_file, oauth.scopes, key_id=oauth.key_id, dpop=oauth.dpop
        )

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

    async def _access_token(self, transport: OktaTransport) -> str:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock.time() >= self._expires:
                await self._mint(transport)
            assert self._token is not None
            return self._token

    async def header(self, transport: OktaTransport) -> str:
        """The ``Authorization`` value (``Bearer <token>`` or ``DPoP <token>``)."""
        token = await self._access_token(transport)
        return f"{self._scheme} {token}"

    async def headers(self, transport: OktaTransport, method: str, url: str) -> dict[str, str]:
        """``Authorization`` and, for a DPoP-bound token, a fresh ``DPoP`` proof for this attempt."""
        token = await self._access_token(transport)
        headers = {"Authorization": f"{self._scheme} {token}"}
        if self._scheme == "DPoP" and self.dpop is not None:
            headers["DPoP"] = self.dpop.proof(method, url, server=DpopProver.API, access_token=token)
        return headers

    def challenged(self, response: httpx.Response) -> bool:
        """An API answer asking for the request again with the DPoP nonce it carries (learned here)."""
        return self.dpop is not None and self.dpop.challenged(response, server=DpopProver.API)

    async def _mint(self, transport: OktaTransport) -> None:
        """Exchange a fresh client assertion for an access token at the org's token endpoint."""
        audience = transport.org_url + TOKEN_PATH
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(self.scopes),
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(audience),
        }
        sign, challenged = self._token_request_dpop(form, audience)
        try:
            doc = await transport.json(
                "POST",
                TOKEN_PATH,
                form=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                authenticate=False,
                sign=sign,
                challenged=challenged,
            )
        except OktaApiError as exc:
            raise self._refused(exc) from exc
        self._keep_token(doc)

    def _token_request_dpop(
        self, form: dict[str, str], audience: str
    ) -> tuple[Callable[[str, str], dict[str, str]] | None, Callable[[httpx.Response], bool] | None]:
        """The token request's ``sign`` and ``challenged`` hooks (``OktaTransport.request``): a DPoP proof on
        every attempt, and one retry with the nonce Okta asks for. Both None without DPoP."""
        dpop = self.dpop
        if dpop is None:
            return None, None

        def sign(method: str, url: str) -> dict[str, str]:
            return {"DPoP": dpop.proof(method, url, server=DpopProver.TOKEN)}

        def challenged(response: httpx.Response) -> bool:
            if not dpop.challenged(response, server=DpopProver.TOKEN):
                return False
            form["client_assertion"] = self.assertion(audience)  # the next attempt sends a fresh one too
            return True

        return sign, challenged

    def _refused(self, exc: OktaApiError) -> AuthError:
        """The error of a token request Okta refused, with the likely fix."""
        d = exc.details
        why = f"{d.error_code or d.status} {d.summary or ''}".rstrip()
        if self.dpop is None and d.error_code in ("invalid_dpop_proof", "use_dpop_nonce"):
            hint = "the service app requires DPoP-bound tokens: set okta.oauth.dpop: true"
        else:
            hint = (
                "check okta.oauth: client_id, the key registered on the service app (key_id), and that "
                f"the app is granted the scopes {' '.join(self.scopes)}"
            )
        return AuthError(f"Okta refused the OAuth client {self.client_id!r}: {why}", d, hint=hint)

    def _keep_token(self, doc: Any) -> None:
        """Keep the access token of the token endpoint's answer ``doc``, renewed before it expires."""
        if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise AuthError("Okta's token endpoint answered without an access_token")
        token_type = str(doc.get("token_type", "Bearer"))
        if token_type.lower() == "dpop" and self.dpop is not None:
            self._scheme = "DPoP"
        elif token_type.lower() == "bearer":
            self._scheme = "Bearer"  # not bound (the app does not bind tokens): used as a Bearer token
        else:
            raise AuthError(
                f"Okta issued a {token_type} token, which oktasync cannot use without DPoP",
                hint="set okta.oauth.dpop: true for this service app",
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
        return f"PrivateKeyJwtAuth(client_id={self.client_id!r}, dpop={self.dpop is not None})"
