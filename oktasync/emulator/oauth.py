"""``POST /oauth2/v1/token``: client_credentials with private_key_jwt, for OAuth service apps.

The client assertion must be signed by the public key registered on a seeded service app (JWK or PEM), with
``iss`` = ``sub`` = client_id, ``aud`` = this token URL, an ``exp`` in the future and an unused ``jti``. The
requested scopes must all be granted to the app. Errors use OAuth's ``{"error", "error_description"}`` body,
as Okta's authorization server does (not the Management API error body).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import web

if TYPE_CHECKING:
    from oktasync.emulator.server import Emulator

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def add_routes(app: web.Application, em: Emulator) -> None:
    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "The authorization grant type is not supported."
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return _oauth_error(
                401, "invalid_client", "Client authentication failed (private_key_jwt expected)."
            )
        assertion = str(form["client_assertion"])
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error(401, "invalid_client", "The client_assertion is not a valid JWT.")
        client_id = str(unverified.get("iss", ""))
        service_app = em.store.service_apps.get(client_id)
        if service_app is None or form.get("client_id") not in (None, client_id):
            return _oauth_error(401, "invalid_client", "Invalid value for 'client_id' parameter.")
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
            return _oauth_error(401, "invalid_client", f"The client_assertion is invalid: {exc}")
        if claims.get("sub") != client_id:
            return _oauth_error(401, "invalid_client", "The client_assertion 'sub' must equal the client_id.")
        jti = claims.get("jti")
        if jti is not None:
            if jti in em.used_jtis:
                return _oauth_error(
                    401, "invalid_client", "The client_assertion token has already been used."
                )
            em.used_jtis.add(str(jti))
        requested = str(form.get("scope") or "").split()
        if not requested:
            return _oauth_error(400, "invalid_scope", "The authorization server requires at least one scope.")
        denied = [s for s in requested if s not in service_app.scopes]
        if denied:
            return _oauth_error(
                400, "invalid_scope", f"The following scopes are not allowed: {' '.join(denied)}"
            )
        from oktasync.emulator.responses import BearerToken

        access_token = "emu." + secrets.token_urlsafe(32)
        em.bearer_tokens[access_token] = BearerToken(
            client_id=client_id, scopes=frozenset(requested), expires=time.time() + TOKEN_LIFETIME
        )
        body = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
            "scope": " ".join(requested),
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    app.router.add_post("/oauth2/v1/token", token)
