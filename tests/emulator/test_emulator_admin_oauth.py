"""The Admin Console provisioning form (admin channel contract) and the OAuth private_key_jwt token flow."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from oktasync.emulator.testing import (
    ADMIN_SESSION,
    ADMIN_XSRF,
    API_APP_ID,
    CUSTOM_APP_ID,
    RunningEmulator,
    run_emulator,
    standard_seed,
)

PAGE = f"/admin/app/chronosphere_scim/instance/{CUSTOM_APP_ID}/"
FORM = PAGE + "settings/user-mgmt"


def _bare(em: RunningEmulator) -> httpx.Client:
    return httpx.Client(base_url=em.url, follow_redirects=False)


def _read_form(html: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        assert name is not None
        if 'type="checkbox"' in tag:
            values[name.group(1)] = " checked" in tag
        else:
            value = re.search(r'value="([^"]*)"', tag)
            values[name.group(1)] = value.group(1) if value else None
    return values


def _post(client: httpx.Client, data: dict[str, str], *, xsrf: str | None = ADMIN_XSRF) -> httpx.Response:
    headers = {"X-Requested-With": "XMLHttpRequest"}
    if xsrf is not None:
        headers["X-Okta-XsrfToken"] = xsrf
    client.cookies.set("sid", ADMIN_SESSION)
    return client.post(FORM, data=data, headers=headers)


FULL_FORM = {
    "scim_base_url": "https://acme.chronosphere.io/api/scim/v2",
    "scim_unique_identifier": "email",
    "pushNewUsers": "true",
    "pushProfileUpdates": "true",
    "scim_auth_mode": "header",
    "scim_auth_header_value_new": "",
    "pushNewAccount": "true",
    "pushProfile": "true",
    "pushDeactivation": "true",
}


def test_admin_page_requires_a_session(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        resp = client.get(PAGE)
        assert resp.status_code == 302 and resp.headers["Location"] == "/login/default"
        client.cookies.set("sid", "nope")
        assert client.get(PAGE).status_code == 302
        assert client.post(FORM, data=FULL_FORM).status_code == 302


def test_admin_page_shows_current_values_but_never_the_token(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        client.cookies.set("sid", ADMIN_SESSION)
        resp = client.get(PAGE)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert f'<span id="_xsrfToken">{ADMIN_XSRF}</span>' in resp.text
    assert '<form id="user-mgmt"' in resp.text
    form = _read_form(resp.text)
    assert form["scim_base_url"].endswith("/v2") and form["scim_unique_identifier"] == "email"
    assert form["pushNewUsers"] is True and form["pushDeactivation"] is True
    assert form["scim_auth_mode"] == "header"
    assert form["scim_auth_header_value_new"] == "" and form["scim_auth_header_set"] == "true"
    assert "scim-test-token" not in resp.text


def test_admin_form_write_full_form(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        data = dict(FULL_FORM, pushDeactivation="on", scim_auth_header_value_new="new-token")
        resp = _post(client, data)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}
        client.cookies.set("sid", ADMIN_SESSION)
        form = _read_form(client.get(PAGE).text)
    assert form["scim_base_url"] == "https://acme.chronosphere.io/api/scim/v2"
    state = emulator.control.state(secrets=True)
    app = next(a for a in state["apps"] if a["id"] == CUSTOM_APP_ID)
    assert app["settings"]["bearer_token"] == "new-token" and app["settings"]["deactivate_users"] is True
    events = emulator.control.events("application.lifecycle.update")
    assert events and events[-1]["actor"]["type"] == "User"


def test_admin_partial_form_turns_absent_checkboxes_off(emulator: RunningEmulator) -> None:
    partial = {k: v for k, v in FULL_FORM.items() if k != "pushDeactivation"}
    with _bare(emulator) as client:
        assert _post(client, partial).status_code == 200
    app = emulator.http.get(f"/api/v1/apps/{CUSTOM_APP_ID}").json()
    assert "PUSH_USER_DEACTIVATION" not in app["features"]
    history = emulator.control.settings_history(CUSTOM_APP_ID)
    assert history[-1] == {**history[-1], "source": "admin", "value": False}
    # The empty token field kept the token.
    state = emulator.control.state(secrets=True)
    assert (
        next(a for a in state["apps"] if a["id"] == CUSTOM_APP_ID)["settings"]["bearer_token"]
        == "scim-test-token"
    )


def test_admin_form_rejects_bad_xsrf_and_missing_fields(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        assert _post(client, FULL_FORM, xsrf="wrong").status_code == 403
        assert _post(client, FULL_FORM, xsrf=None).status_code == 403
        client.cookies.set("sid", ADMIN_SESSION)
        no_xhr = client.post(FORM, data=FULL_FORM, headers={"X-Okta-XsrfToken": ADMIN_XSRF})
        assert no_xhr.status_code == 403
        # the token is also accepted as a form field
        assert _post(client, dict(FULL_FORM, _xsrfToken=ADMIN_XSRF), xsrf=None).status_code == 200
        missing = _post(client, {k: v for k, v in FULL_FORM.items() if k != "scim_base_url"})
        assert missing.status_code == 400 and "scim_base_url" in missing.json()["errors"]
    emulator.control.expire_admin_session(ADMIN_SESSION)
    with _bare(emulator) as client:
        assert _post(client, FULL_FORM).status_code == 302


# --- OAuth ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oauth_emulator(rsa_key: rsa.RSAPrivateKey) -> Any:
    seed = standard_seed()
    seed["service_apps"] = [
        {
            "client_id": "0oaservice0000000001",
            "scopes": ["okta.apps.read", "okta.groups.read", "okta.logs.read"],
            "public_jwk": json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())),
        }
    ]
    with run_emulator(seed) as running:
        yield running


def _assertion(
    key: rsa.RSAPrivateKey, url: str, client_id: str = "0oaservice0000000001", **claims: Any
) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{url}/oauth2/v1/token",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256")


def _token(
    em: RunningEmulator, assertion: str, scope: str = "okta.apps.read okta.logs.read"
) -> httpx.Response:
    return httpx.post(
        f"{em.url}/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


def test_private_key_jwt_token_and_scopes(
    oauth_emulator: RunningEmulator, rsa_key: rsa.RSAPrivateKey
) -> None:
    em = oauth_emulator
    resp = _token(em, _assertion(rsa_key, em.url))
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "okta.apps.read okta.logs.read"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    with httpx.Client(base_url=em.url, headers=bearer) as client:
        assert client.get(f"/api/v1/apps/{CUSTOM_APP_ID}/groups").status_code == 200
        assert client.get("/api/v1/logs").status_code == 200
        denied = client.put(f"/api/v1/apps/{API_APP_ID}/groups/00gnope")  # needs okta.apps.manage
        assert denied.status_code == 403 and denied.json()["errorCode"] == "E0000006"
        assert client.get("/api/v1/groups").status_code == 403  # okta.groups.read not requested
        no_space = client.get("/api/v1/apps", headers={"Authorization": f"Bearer{body['access_token']}"})
        assert no_space.status_code == 401


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "https://elsewhere.okta.com/oauth2/v1/token"},
        {"exp": int(time.time()) - 10},
        {"sub": "someone-else"},
    ],
)
def test_bad_assertions_are_rejected(
    oauth_emulator: RunningEmulator, rsa_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    resp = _token(oauth_emulator, _assertion(rsa_key, oauth_emulator.url, **claims))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_wrong_key_unknown_client_replay_and_scope(
    oauth_emulator: RunningEmulator, rsa_key: rsa.RSAPrivateKey
) -> None:
    em = oauth_emulator
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _token(em, _assertion(other, em.url)).status_code == 401
    assert _token(em, _assertion(rsa_key, em.url, client_id="0oaunknown")).status_code == 401
    assertion = _assertion(rsa_key, em.url)
    assert _token(em, assertion).status_code == 200
    assert _token(em, assertion).status_code == 401  # jti replay
    denied = _token(em, _assertion(rsa_key, em.url), scope="okta.apps.manage")
    assert denied.status_code == 400 and denied.json()["error"] == "invalid_scope"
