"""OAuth with DPoP-bound access tokens (RFC 9449), end to end against the emulator's DPoP server side.

The emulator's service app requires DPoP (``dpop_bound_access_tokens``), answers the first token request
``400 use_dpop_nonce`` and checks every proof (signature by the header's jwk, htm/htu, iat window, jti
replay, ath, nonce). Every end-to-end test runs under both variants of ``dpop_resource_nonce`` (whether the
API demands a nonce of its own), and plain Bearer keeps working for an app that does not require DPoP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from gateway_helpers import run

from oktasync.cli import main
from oktasync.emulator.testing import CUSTOM_APP_ID, RunningEmulator, run_emulator, standard_seed
from oktasync.errors import AuthError
from oktasync.okta_gateway.auth import DpopProver, PrivateKeyJwtAuth, access_token_hash
from oktasync.okta_gateway.sdk import SdkGateway

DPOP_APP = "0oadpopservice000001"
BEARER_APP = "0oabearerservice0001"
SCOPES = ["okta.apps.read", "okta.apps.manage", "okta.groups.read", "okta.users.read", "okta.logs.read"]
SCIM_TOKEN = "scim-target-token-for-dpop-tests"


@pytest.fixture(params=[False, True], ids=["api-without-nonce", "api-demands-nonce"])
def emulator(
    request: pytest.FixtureRequest, key_file: tuple[Path, dict[str, Any]]
) -> Iterator[RunningEmulator]:
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["service_apps"] = [
        {
            "client_id": DPOP_APP,
            "scopes": SCOPES,
            "public_jwk": key_file[1],
            "dpop_bound_access_tokens": True,
        },
        {"client_id": BEARER_APP, "scopes": SCOPES, "public_jwk": key_file[1]},
    ]
    for app in seed["apps"]:
        if app["label"] == "Chronosphere":
            app["groups"] = [{"group": "engineering"}]
            app["preprovisioned"] = True
    with run_emulator(seed, behaviour={"dpop_resource_nonce": request.param}) as running:
        yield running


def _auth(key_file: tuple[Path, Any], client_id: str = DPOP_APP, *, dpop: bool = True) -> PrivateKeyJwtAuth:
    return PrivateKeyJwtAuth(client_id, str(key_file[0]), SCOPES, key_id="k1", dpop=dpop)


def _recording(gw: SdkGateway) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    gw.transport.client.event_hooks["request"].append(record)
    return seen


def _claims(proof: str) -> dict[str, Any]:
    return dict(jwt.decode(proof, options={"verify_signature": False}))


def _config(tmp_path: Path, url: str, key: Path, client_id: str = DPOP_APP, *, dpop: bool = True) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(
        f"tenant: acme\nokta:\n  org_url: {url}\n"
        f"  oauth:\n    client_id: {client_id}\n    private_key_file: {key}\n    key_id: k1\n"
        f"    dpop: {'true' if dpop else 'false'}\n"
        "app:\n  label: Chronosphere\n"
        "scim:\n  base_url: https://acme.chronosphere.io/api/scim/v2\n"
        '  auth:\n    bearer_token: "{{ env.SCIM_TOKEN }}"\n'
    )
    return path


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("SCIM_TOKEN", SCIM_TOKEN)
    with CliRunner().isolation() as (out, err, _):
        code = main(list(args))
    return code, out.getvalue().decode(), err.getvalue().decode()


# --- end to end ---------------------------------------------------------------------------------------------
def test_doctor_with_a_dpop_tenant_config_works_end_to_end(
    emulator: RunningEmulator, key_file: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, emulator.url, key_file[0])
    code, out, err = _cli(monkeypatch, "doctor", "--json", str(config))
    document = json.loads(out)
    assert code == 0, err
    assert document["exit_code"] == 0
    assert all(c["ok"] is not False for c in document["checks"]), document["checks"]
    stats = emulator.control.stats()
    # One access token: the first token request is answered use_dpop_nonce, the second carries the nonce.
    assert stats["by_route"]["POST /oauth2/v1/token"] == 2
    # The API's own nonce challenge, in the variant that has one: once, then every proof carries it.
    assert stats["by_status"].get("401", 0) == (
        1 if emulator.control.behaviour()["dpop_resource_nonce"] else 0
    )


def test_every_request_carries_a_fresh_proof_bound_to_its_method_url_and_token(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    auth = _auth(key_file)
    gw = SdkGateway(emulator.url, auth)
    seen = _recording(gw)

    async def scenario() -> None:
        try:
            await gw.get_app(CUSTOM_APP_ID)
            await gw.list_group_assignments(CUSTOM_APP_ID)
            await gw.get_app(CUSTOM_APP_ID)
        finally:
            await gw.close()

    run(scenario())
    token_requests = [r for r in seen if r.url.path == "/oauth2/v1/token"]
    api_requests = [r for r in seen if r.url.path.startswith("/api/")]
    # The first token request has no nonce and is answered use_dpop_nonce; the second carries it.
    assert len(token_requests) == 2 and auth.minted == 1
    first, second = (_claims(r.headers["DPoP"]) for r in token_requests)
    assert "nonce" not in first and second["nonce"] and second["htm"] == "POST" and "ath" not in second
    assert second["htu"] == emulator.url + "/oauth2/v1/token"
    assert all(r.headers["Authorization"].startswith("DPoP ") for r in api_requests)
    proofs = [r.headers["DPoP"] for r in seen]
    assert len({_claims(p)["jti"] for p in proofs}) == len(proofs)  # a fresh proof per attempt
    for request in api_requests:
        claims = _claims(request.headers["DPoP"])
        header = jwt.get_unverified_header(request.headers["DPoP"])
        assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256" and "d" not in header["jwk"]
        assert claims["htm"] == request.method
        assert claims["htu"] == str(request.url.copy_with(query=None))
        assert claims["ath"] == access_token_hash(request.headers["Authorization"].removeprefix("DPoP "))
    if emulator.control.behaviour()["dpop_resource_nonce"]:
        # The API's nonce challenge: one 401 answered, then every proof carries the API's nonce.
        assert emulator.control.stats()["by_status"].get("401") == 1
        assert all("nonce" in _claims(r.headers["DPoP"]) for r in api_requests[1:])


def test_rotated_nonces_are_picked_up_from_the_challenges(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    auth = _auth(key_file)
    gw = SdkGateway(emulator.url, auth)
    seen = _recording(gw)
    server = emulator.emulator.dpop

    async def scenario() -> None:
        try:
            await gw.get_app(CUSTOM_APP_ID)
            old_token_nonce, old_api_nonce = server.token_nonce, server.resource_nonce
            server.rotate()
            assert (server.token_nonce, server.resource_nonce) != (old_token_nonce, old_api_nonce)
            await gw.get_app(CUSTOM_APP_ID)  # the API's nonce (when it demands one) is challenged again
            auth.invalidate()  # a new access token: the token endpoint challenges the old nonce
            await gw.get_app(CUSTOM_APP_ID)
        finally:
            await gw.close()

    run(scenario())
    assert auth.minted == 2
    token_proofs = [_claims(r.headers["DPoP"]) for r in seen if r.url.path == "/oauth2/v1/token"]
    assert len(token_proofs) == 4  # each mint: a challenged first try and the retry with the current nonce
    assert token_proofs[-1]["nonce"] == server.token_nonce and token_proofs[-2]["nonce"] != server.token_nonce
    if emulator.control.behaviour()["dpop_resource_nonce"]:
        last_api = [r for r in seen if r.url.path.startswith("/api/")][-1]
        assert _claims(last_api.headers["DPoP"])["nonce"] == server.resource_nonce


def test_plain_bearer_still_works_for_an_app_without_dpop(
    emulator: RunningEmulator, key_file: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, emulator.url, key_file[0], BEARER_APP, dpop=False)
    code, out, err = _cli(monkeypatch, "doctor", "--json", str(config))
    assert code == 0, err and json.loads(out)["exit_code"] == 0
    auth = _auth(key_file, BEARER_APP, dpop=False)
    gw = SdkGateway(emulator.url, auth)
    seen = _recording(gw)

    async def scenario() -> None:
        try:
            await gw.get_app(CUSTOM_APP_ID)
        finally:
            await gw.close()

    run(scenario())
    assert all("DPoP" not in r.headers for r in seen)
    assert [r.headers["Authorization"].split(" ")[0] for r in seen if r.url.path.startswith("/api/")] == [
        "Bearer"
    ]


# --- refusals -----------------------------------------------------------------------------------------------
def test_a_dpop_app_refuses_a_token_request_without_a_proof_and_the_error_says_what_to_set(
    emulator: RunningEmulator, key_file: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, emulator.url, key_file[0], dpop=False)
    code, out, err = _cli(monkeypatch, "doctor", str(config))
    assert code != 0
    assert "invalid_dpop_proof" in out + err and "okta.oauth.dpop: true" in out + err
    assert "Traceback" not in err


def _proof(
    key: Any,
    method: str,
    url: str,
    *,
    jwk_key: Any = None,
    nonce: str | None = None,
    token: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
) -> str:
    public = jwt.algorithms.ECAlgorithm.to_jwk((jwk_key or key).public_key(), as_dict=True)
    claims: dict[str, Any] = {
        "jti": jti or str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(iat if iat is not None else time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if token:
        claims["ath"] = access_token_hash(token)
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public})


def _token_form(auth: PrivateKeyJwtAuth, url: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": "okta.apps.read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": auth.assertion(url + "/oauth2/v1/token"),
    }


def test_bad_token_request_proofs_are_refused(emulator: RunningEmulator, key_file: tuple[Path, Any]) -> None:
    auth = _auth(key_file)
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    token_url = emulator.url + "/oauth2/v1/token"
    nonce = emulator.emulator.dpop.token_nonce

    def post(proof: str) -> httpx.Response:
        return httpx.post(token_url, data=_token_form(auth, emulator.url), headers={"DPoP": proof})

    no_nonce = post(_proof(key, "POST", token_url))
    assert no_nonce.status_code == 400 and no_nonce.json()["error"] == "use_dpop_nonce"
    assert no_nonce.headers["DPoP-Nonce"] == nonce
    refused = {
        "signed by another key than its jwk": _proof(other, "POST", token_url, jwk_key=key, nonce=nonce),
        "wrong method": _proof(key, "GET", token_url, nonce=nonce),
        "wrong URL": _proof(key, "POST", emulator.url + "/oauth2/v1/authorize", nonce=nonce),
        "iat an hour old": _proof(key, "POST", token_url, nonce=nonce, iat=time.time() - 3600),
        "not a JWT": "not-a-proof",
    }
    for why, proof in refused.items():
        answer = post(proof)
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_dpop_proof"), why
    accepted = post(_proof(key, "POST", token_url, nonce=nonce))
    assert accepted.status_code == 200 and accepted.json()["token_type"] == "DPoP"


def test_api_refuses_missing_replayed_and_mismatched_proofs(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    token_url = emulator.url + "/oauth2/v1/token"
    nonce = emulator.emulator.dpop.token_nonce
    answer = httpx.post(
        token_url,
        data=_token_form(_auth(key_file), emulator.url),
        headers={"DPoP": _proof(key, "POST", token_url, nonce=nonce)},
    )
    token = answer.json()["access_token"]
    url = f"{emulator.url}/api/v1/apps/{CUSTOM_APP_ID}"
    api_nonce = (
        emulator.emulator.dpop.resource_nonce if emulator.control.behaviour()["dpop_resource_nonce"] else None
    )

    def get(authorization: str, proof: str | None) -> httpx.Response:
        headers = {"Authorization": authorization, **({"DPoP": proof} if proof else {})}
        return httpx.get(url, headers=headers)

    good = _proof(key, "GET", url, token=token, nonce=api_nonce)
    assert get(f"DPoP {token}", good).status_code == 200
    replayed = get(f"DPoP {token}", good)
    assert (
        replayed.status_code == 401 and 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]
    )
    as_bearer = get(f"Bearer {token}", None)
    assert as_bearer.status_code == 401 and 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
    assert get(f"DPoP {token}", None).status_code == 401
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert (
        get(f"DPoP {token}", _proof(other_key, "GET", url, token=token, nonce=api_nonce)).status_code == 401
    )
    assert (
        get(f"DPoP {token}", _proof(key, "GET", url, token="another-token", nonce=api_nonce)).status_code
        == 401
    )
    if api_nonce is not None:
        challenge = get(f"DPoP {token}", _proof(key, "GET", url, token=token))
        assert challenge.status_code == 401 and challenge.headers["DPoP-Nonce"] == api_nonce
        assert 'error="use_dpop_nonce"' in challenge.headers["WWW-Authenticate"]


def test_a_token_type_the_client_cannot_use_is_an_auth_error(key_file: tuple[Path, Any]) -> None:
    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "x" * 20, "token_type": "DPoP", "expires_in": 3600})

    auth = _auth(key_file, dpop=False)
    gw = SdkGateway("http://127.0.0.1:9", auth)
    gw.transport.client = httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint))

    async def scenario() -> None:
        try:
            await gw.get_app(CUSTOM_APP_ID)
        finally:
            await gw.close()

    with pytest.raises(AuthError, match="cannot use without DPoP") as caught:
        run(scenario())
    assert "okta.oauth.dpop: true" in str(caught.value.hint)


def test_the_proof_key_is_generated_per_process_and_never_shown() -> None:
    one, two = DpopProver(), DpopProver()
    assert one.public_jwk != two.public_jwk and set(one.public_jwk) == {"kty", "crv", "x", "y"}
    assert "sensitive" in repr(one)
