"""``POST /oauth2/v1/token``: client_credentials with private_key_jwt, for OAuth service apps, with DPoP.

The client assertion must be signed by the public key registered on a seeded service app (JWK or PEM), with
``iss`` = ``sub`` = client_id, ``aud`` = this token URL, an ``exp`` in the future and an unused ``jti``. The
requested scopes must all be granted to the app. Errors use OAuth's ``{"error", "error_description"}`` body,
as Okta's authorization server does (not the Management API error body).

DPoP (RFC 9449; docs/okta-behaviour.md "Authentication and errors"): a token request may carry a ``DPoP``
proof, and must when the service app has ``dpop_bound_access_tokens`` (Okta's "Require DPoP header in
token requests"). A proof is checked as RFC 9449 section 4.3 says: ``typ`` ``dpop+jwt``, an asymmetric
``alg``, a public ``jwk`` in the header that verifies the signature, ``htm``/``htu`` matching the request
(``htu`` without query), ``iat`` within ``PROOF_WINDOW`` seconds of now, a ``jti`` never seen before, and
the server's current nonce (else ``400 use_dpop_nonce`` with a ``DPoP-Nonce`` header). The token issued is
then ``token_type: DPoP``, bound to the key's thumbprint. On the API (``check_resource_proof``) such a token
is accepted only as ``Authorization: DPoP <token>`` with a proof of the same key whose ``ath`` is the
token's hash; with the ``dpop_resource_nonce`` behaviour the API also demands a nonce of its own (``401``,
``WWW-Authenticate: DPoP error="use_dpop_nonce"``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import web
from yarl import URL

if TYPE_CHECKING:
    from oktasync.emulator.records import ServiceApp
    from oktasync.emulator.server import Emulator

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600
DPOP_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
PROOF_WINDOW = 300  # seconds an iat may be from now, either way
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers=headers
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """The JWK SHA-256 thumbprint (RFC 7638): the required members, sorted, no whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(str(jwk.get("kty")), ())
    canonical = json.dumps({k: jwk[k] for k in required if k in jwk}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token (RFC 9449 section 4.2)."""
    return _b64url(hashlib.sha256(token.encode("ascii")).digest())


class ProofError(Exception):
    """A DPoP proof that is not acceptable (``invalid_dpop_proof``)."""


class NonceNeeded(Exception):
    """A valid proof without the server's current nonce (``use_dpop_nonce``)."""


class DpopServer:
    """The org's DPoP state: the nonces it hands out (one for the token endpoint, one for the API) and
    the proof ``jti`` values it has seen (a proof is accepted once)."""

    def __init__(self) -> None:
        self.token_nonce = secrets.token_urlsafe(16)
        self.resource_nonce = secrets.token_urlsafe(16)
        self.seen_jtis: set[str] = set()
        self.rotations = 0

    def rotate(self) -> None:
        """New nonces: a proof with an old one is answered ``use_dpop_nonce`` with the new one."""
        self.token_nonce = secrets.token_urlsafe(16)
        self.resource_nonce = secrets.token_urlsafe(16)
        self.rotations += 1

    def verify(
        self, proof: str, method: str, url: URL, *, access_token: str | None = None, nonce: str | None = None
    ) -> str:
        """Check one proof (RFC 9449 section 4.3): the thumbprint of its key, or ProofError / NonceNeeded."""
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError as exc:
            raise ProofError(f"The DPoP proof is not a JWT: {exc}") from exc
        jwk = header.get("jwk")
        alg = header.get("alg")
        if header.get("typ") != "dpop+jwt":
            raise ProofError("The DPoP proof 'typ' must be 'dpop+jwt'.")
        if alg not in DPOP_ALGORITHMS:
            raise ProofError(f"The DPoP proof 'alg' {alg!r} is not supported.")
        if not isinstance(jwk, dict) or _PRIVATE_JWK_MEMBERS & set(jwk):
            raise ProofError("The DPoP proof header must hold the public 'jwk' (and no private key).")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
            claims = jwt.decode(
                proof,
                key,
                algorithms=[alg],
                options={"require": ["iat", "jti", "htm", "htu"], "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise ProofError(f"The DPoP proof signature or claims are invalid: {exc}") from exc
        if claims["htm"] != method:
            raise ProofError("The DPoP proof 'htm' does not match the request method.")
        try:
            htu = URL(str(claims["htu"]))
        except ValueError as exc:
            raise ProofError("The DPoP proof 'htu' is not a URL.") from exc
        if htu.with_query(None).with_fragment(None) != url.with_query(None).with_fragment(None):
            raise ProofError("The DPoP proof 'htu' does not match the request URL.")
        iat = claims["iat"]
        if not isinstance(iat, int | float) or abs(time.time() - float(iat)) > PROOF_WINDOW:
            raise ProofError("The DPoP proof 'iat' is outside the accepted window.")
        jti = str(claims["jti"])
        if jti in self.seen_jtis:
            raise ProofError("The DPoP proof 'jti' has already been used.")
        self.seen_jtis.add(jti)
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise ProofError("The DPoP proof 'ath' does not match the access token.")
        if nonce is not None and claims.get("nonce") != nonce:
            raise NonceNeeded()
        return thumbprint(jwk)


def _dpop_challenge(error: str, description: str, nonce: str | None = None) -> dict[str, str]:
    headers = {"WWW-Authenticate": f'DPoP error="{error}", error_description="{description}"'}
    if nonce is not None:
        headers["DPoP-Nonce"] = nonce
    return headers


def check_resource_proof(
    em: Emulator, request: web.Request, scheme: str, token: str, bound: str | None
) -> None:
    """The API side of DPoP for a request presenting ``token`` under ``scheme`` (``Bearer`` or ``DPoP``);
    ``bound`` is the thumbprint the token is bound to (None for a plain Bearer token). Raises OktaError."""
    from oktasync.emulator.responses import OktaError

    def refuse(error: str, description: str, nonce: str | None = None) -> OktaError:
        return OktaError(
            401, "E0000011", "Invalid token provided", headers=_dpop_challenge(error, description, nonce)
        )

    if bound is None:
        if scheme == "DPoP":
            raise refuse("invalid_token", "A Bearer token cannot be presented as a DPoP token.")
        return
    if scheme != "DPoP":
        raise refuse("invalid_token", "The access token is DPoP-bound: use the DPoP scheme with a proof.")
    proof = request.headers.get("DPoP")
    if not proof:
        raise refuse("invalid_dpop_proof", "The DPoP proof is missing.")
    nonce = em.dpop.resource_nonce if em.behaviour.dpop_resource_nonce else None
    try:
        jkt = em.dpop.verify(proof, request.method, request.url, access_token=token, nonce=nonce)
    except NonceNeeded:
        raise refuse("use_dpop_nonce", "Resource server requires nonce in DPoP proof.", nonce) from None
    except ProofError as exc:
        raise refuse("invalid_dpop_proof", str(exc)) from None
    if jkt != bound:
        raise refuse("invalid_dpop_proof", "The DPoP proof key is not the key the token is bound to.")


class _Refused(Exception):
    """An OAuth error answer. The token endpoint's checks raise it, so each check reads as one straight line
    and the endpoint answers with the first one that fails."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.response = _oauth_error(status, error, description, headers)


def add_routes(app: web.Application, em: Emulator) -> None:
    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        try:
            return _issue_token(em, request, form)
        except _Refused as refusal:
            return refusal.response

    app.router.add_post("/oauth2/v1/token", token)


def _issue_token(em: Emulator, request: web.Request, form: Mapping[str, object]) -> web.Response:
    """One client_credentials token request, checked in the order Okta answers its errors; raises _Refused."""
    if form.get("grant_type") != "client_credentials":
        raise _Refused(400, "unsupported_grant_type", "The authorization grant type is not supported.")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise _Refused(401, "invalid_client", "Client authentication failed (private_key_jwt expected).")
    assertion = str(form["client_assertion"])
    service_app = _asserted_client(em, assertion, form.get("client_id"))
    # DPoP before the assertion is used up: a use_dpop_nonce answer leaves the client's assertion unspent.
    bound = _token_binding(em, request, service_app)
    _verify_assertion(em, request, assertion, service_app)
    scopes = _granted_scopes(str(form.get("scope") or ""), service_app)
    return _token_answer(em, service_app.client_id, scopes, bound)


def _asserted_client(em: Emulator, assertion: str, form_client_id: object) -> ServiceApp:
    """The service app the (not yet verified) assertion names as its issuer, which a ``client_id`` form
    field, when sent, must name too."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _Refused(401, "invalid_client", "The client_assertion is not a valid JWT.") from None
    client_id = str(unverified.get("iss", ""))
    service_app = em.store.service_apps.get(client_id)
    if service_app is None or form_client_id not in (None, client_id):
        raise _Refused(401, "invalid_client", "Invalid value for 'client_id' parameter.")
    return service_app


def _token_binding(em: Emulator, request: web.Request, service_app: ServiceApp) -> str | None:
    """The thumbprint of the DPoP key the token will be bound to, or None for a Bearer token."""
    proof = request.headers.get("DPoP")
    if proof is None:
        if service_app.dpop_bound_access_tokens:
            raise _Refused(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        return None
    try:
        return em.dpop.verify(proof, "POST", request.url, nonce=em.dpop.token_nonce)
    except NonceNeeded:
        raise _Refused(
            400,
            "use_dpop_nonce",
            "Authorization server requires nonce in DPoP proof.",
            headers={"DPoP-Nonce": em.dpop.token_nonce},
        ) from None
    except ProofError as exc:
        raise _Refused(400, "invalid_dpop_proof", str(exc)) from None


def _verify_assertion(em: Emulator, request: web.Request, assertion: str, service_app: ServiceApp) -> None:
    """The assertion is signed by the app's registered key, for this token URL, by and about the client, and
    its ``jti`` (when it has one) is spent here: an assertion is accepted once."""
    client_id = service_app.client_id
    audience = f"{request.scheme}://{request.host}/oauth2/v1/token"
    try:
        if service_app.public_jwk is not None:
            key: Any = jwt.PyJWK(service_app.public_jwk).key
        else:
            key = service_app.public_key_pem
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
            audience=audience,
            issuer=client_id,
            options={"require": ["exp", "iss", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise _Refused(401, "invalid_client", f"The client_assertion is invalid: {exc}") from None
    if claims.get("sub") != client_id:
        raise _Refused(401, "invalid_client", "The client_assertion 'sub' must equal the client_id.")
    jti = claims.get("jti")
    if jti is not None:
        if jti in em.used_jtis:
            raise _Refused(401, "invalid_client", "The client_assertion token has already been used.")
        em.used_jtis.add(str(jti))


def _granted_scopes(scope: str, service_app: ServiceApp) -> list[str]:
    """The requested scopes (at least one), each of which must be granted to the app."""
    requested = scope.split()
    if not requested:
        raise _Refused(400, "invalid_scope", "The authorization server requires at least one scope.")
    denied = [s for s in requested if s not in service_app.scopes]
    if denied:
        raise _Refused(400, "invalid_scope", f"The following scopes are not allowed: {' '.join(denied)}")
    return requested


def _token_answer(em: Emulator, client_id: str, scopes: list[str], bound: str | None) -> web.Response:
    """Mint and remember an access token, DPoP-bound to ``bound`` when it is a key thumbprint."""
    from oktasync.emulator.responses import BearerToken

    access_token = "emu." + secrets.token_urlsafe(32)
    em.bearer_tokens[access_token] = BearerToken(
        client_id=client_id, scopes=frozenset(scopes), expires=time.time() + TOKEN_LIFETIME, jkt=bound
    )
    body = {
        "token_type": "Bearer" if bound is None else "DPoP",
        "expires_in": TOKEN_LIFETIME,
        "access_token": access_token,
        "scope": " ".join(scopes),
    }
    # A DPoP token answer carries the current nonce too (recorded: docs/okta-behaviour.md).
    headers = {"DPoP-Nonce": em.dpop.token_nonce} if bound is not None else None
    return web.Response(body=json.dumps(body).encode(), content_type="application/json", headers=headers)
