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

PAGE = f"/admin/app/chronosphere_scim/instance/{CUSTOM_APP_ID}/settings/user-mgmt"
FORM = PAGE  # read and posted at the same URL


def _bare(em: RunningEmulator) -> httpx.Client:
    return httpx.Client(base_url=em.url, follow_redirects=False)


def _read_form(html: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if name is None:  # the Save button
            continue
        if 'type="checkbox"' in tag:
            values[name.group(1)] = " checked" in tag
        elif 'type="radio"' in tag:
            if " checked" in tag:
                values[name.group(1)] = re.search(r'value="([^"]*)"', tag).group(1)  # type: ignore[union-attr]
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


def _settings(em: RunningEmulator) -> dict[str, Any]:
    state = em.control.state(secrets=True)
    settings: dict[str, Any] = next(a for a in state["apps"] if a["id"] == CUSTOM_APP_ID)["settings"]
    return settings


# What authomize/okta_scim_attack_tool posts (create_okta_vuln_app.py), with our values.
EVIDENCE_POST = {
    "_xsrfToken": ADMIN_XSRF,
    "enabled": "true",
    "_enabled": "on",
    "scim_base_url": "https://acme.chronosphere.io/api/scim/v2",
    "scim_auth_header_value_new": "",
    "_profileMaster": "on",
    "_pushNewAccount": "on",
    "pushNewAccount": "true",
    "_pushProfile": "on",
    "_pushDeactivation": "on",
    "pushPassword": "true",
    "_pushPassword": "on",
    "syncUniquePassword": "false",
    "_cycleSyncedPassword": "on",
}


def test_admin_page_requires_a_session(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        resp = client.get(PAGE)
        assert resp.status_code == 302 and resp.headers["Location"] == "/login/default"
        client.cookies.set("sid", "nope")
        assert client.get(PAGE).status_code == 302
        assert client.post(FORM, data=EVIDENCE_POST).status_code == 302


def test_evidence_page_shows_evidenced_fields_and_never_the_token(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        client.cookies.set("sid", ADMIN_SESSION)
        resp = client.get(PAGE)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert f'<input type="hidden" name="_xsrfToken" value="{ADMIN_XSRF}">' in resp.text
    assert 'id="userMgmtSettings.pushDeactivation"' in resp.text and ">Deactivate Users</label>" in resp.text
    form = _read_form(resp.text)
    assert form["scim_base_url"].endswith("/v2") and form["scim_auth_header_value_new"] == ""
    assert form["pushNewAccount"] is True and form["pushDeactivation"] is True
    assert form["_pushDeactivation"] == "on" and form["syncUniquePassword"] == "false"
    # No public source shows the unique identifier, auth mode or push actions' fields: not on this page.
    assert not {"scim_unique_identifier", "pushNewUsers", "scim_auth_mode"} & set(form)
    assert "scim-test-token" not in resp.text


@pytest.mark.parametrize(
    ("variant", "present", "absent"),
    [
        ("full", {"scim_unique_identifier", "pushNewUsers", "pushProfileUpdates", "pushDeactivation"}, set()),
        ("without_deactivate", {"pushNewAccount", "pushProfile"}, {"pushDeactivation", "_pushDeactivation"}),
        ("relabelled", set(), {"scim_base_url", "pushDeactivation", "_pushDeactivation", "pushNewAccount"}),
    ],
)
def test_page_variants(variant: str, present: set[str], absent: set[str]) -> None:
    with run_emulator(standard_seed(scim_base_url="https://a/v2"), behaviour={"admin_form": variant}) as em:
        with _bare(em) as client:
            client.cookies.set("sid", ADMIN_SESSION)
            text = client.get(PAGE).text
    form = _read_form(text)
    assert present <= set(form) and not absent & set(form)
    for label in ("SCIM connector base URL", "Create Users", "Update User Attributes"):
        assert f">{label}</label>" in text  # same labels on every variant


def test_evidence_post_writes_and_turns_marked_boxes_off(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        data = dict(EVIDENCE_POST, scim_auth_header_value_new="new-token")
        resp = _post(client, data, xsrf=None)  # the token as a form field, as the evidence posts it
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}
        client.cookies.set("sid", ADMIN_SESSION)
        form = _read_form(client.get(PAGE).text)
    assert form["scim_base_url"] == "https://acme.chronosphere.io/api/scim/v2"
    assert (form["pushNewAccount"], form["pushProfile"], form["pushDeactivation"]) == (True, False, False)
    assert form["pushPassword"] is True and form["profileMaster"] is False
    settings = _settings(emulator)
    assert settings["bearer_token"] == "new-token" and settings["deactivate_users"] is False
    assert settings["unique_identifier"] == "email"  # not on the page: untouched
    history = emulator.control.settings_history(CUSTOM_APP_ID)
    assert history[-1] == {**history[-1], "source": "admin", "value": False}
    events = emulator.control.events("application.lifecycle.update")
    assert events and events[-1]["actor"]["type"] == "User"


def test_without_marker_a_box_stays_and_an_empty_token_keeps_the_token(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        assert _post(client, {"scim_auth_header_value_new": ""}).status_code == 200
    settings = _settings(emulator)
    assert settings["deactivate_users"] is True and settings["bearer_token"] == "scim-test-token"


def test_admin_form_rejects_bad_xsrf_and_bad_values(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        assert _post(client, {"pushNewAccount": "true"}, xsrf="wrong").status_code == 403
        assert _post(client, {"pushNewAccount": "true"}, xsrf=None).status_code == 403
        client.cookies.set("sid", ADMIN_SESSION)
        no_xhr = client.post(FORM, data={}, headers={"X-Okta-XsrfToken": ADMIN_XSRF})
        assert no_xhr.status_code == 403
        bad = _post(client, {"scim_base_url": "ftp://nope"})
        assert bad.status_code == 400 and "scim_base_url" in bad.json()["errors"]
    emulator.control.expire_admin_session(ADMIN_SESSION)
    with _bare(emulator) as client:
        assert _post(client, {}).status_code == 302


def test_sessions_end_when_idle_or_used_from_another_network() -> None:
    seed = standard_seed()
    seed["admin_sessions"] = [
        {"id": "idle", "xsrf_token": "x1", "idle_seconds": 901},
        {"id": "laptop", "xsrf_token": "x2", "network": "admin-laptop"},
        {"id": "jar", "xsrf_token": "x3", "cookies": {"JSESSIONID": "J"}},
    ]

    def status(em: RunningEmulator, cookies: dict[str, str]) -> int:
        with _bare(em) as client:
            for name, value in cookies.items():
                client.cookies.set(name, value)
            return client.get(PAGE).status_code

    with run_emulator(seed) as em:
        assert status(em, {"sid": "idle"}) == 302
        assert status(em, {"sid": "laptop"}) == 200  # binding off: any network
        assert status(em, {"sid": "jar"}) == 302 and status(em, {"sid": "jar", "JSESSIONID": "J"}) == 200
        em.control.behaviour(admin_network_binding=True)
        assert status(em, {"sid": "laptop"}) == 302 and status(em, {"sid": "jar", "JSESSIONID": "J"}) == 200
        em.control.behaviour(admin_network_binding=False)
        assert status(em, {"sid": "laptop"}) == 302  # revoked, not just refused


def test_at_most_40_requests_per_admin_per_endpoint_in_10_seconds(emulator: RunningEmulator) -> None:
    with _bare(emulator) as client:
        client.cookies.set("sid", ADMIN_SESSION)
        codes = [client.get(PAGE).status_code for _ in range(41)]
        other = client.get(f"/admin/app/zscalerbyz/instance/{API_APP_ID}/settings/user-mgmt").status_code
    assert codes[:40] == [200] * 40 and codes[40] == 429
    assert other == 404  # another endpoint has its own count (and an API-capable app has no such page)


def test_an_unknown_page_variant_is_refused(emulator: RunningEmulator) -> None:
    with pytest.raises(Exception, match="admin_form takes one of evidence, full"):
        emulator.control.behaviour(admin_form="fancy")
    assert emulator.control.behaviour()["admin_form"] == "evidence"


def test_no_page_until_provisioning_is_on(emulator: RunningEmulator) -> None:
    emulator.control.set_app_settings(CUSTOM_APP_ID, provisioning_enabled=False)
    with _bare(emulator) as client:
        client.cookies.set("sid", ADMIN_SESSION)
        assert client.get(PAGE).status_code == 404


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
