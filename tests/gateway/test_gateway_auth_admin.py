"""OAuth private_key_jwt end to end, and the Admin Console channel, against the emulator."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import gateway, run

from oktasync.config.schema import TenantConfig
from oktasync.emulator.testing import ADMIN_SESSION, API_TOKEN, CUSTOM_APP_ID, RunningEmulator
from oktasync.errors import AdminSessionError, AuthError
from oktasync.okta_gateway import open_gateway, resolve_app
from oktasync.okta_gateway.admin import admin_base_url, parse_form
from oktasync.okta_gateway.sdk import SdkGateway

CLIENT_ID = "0oaoktasyncservice01"
SCOPES = ["okta.apps.read", "okta.apps.manage", "okta.groups.read", "okta.users.read", "okta.logs.read"]


@pytest.fixture
def emulator_seed(key_file: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    from oktasync.emulator.testing import standard_seed

    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["service_apps"] = [{"client_id": CLIENT_ID, "scopes": SCOPES[:3], "public_jwk": key_file[1]}]
    return seed


def _config(url: str, okta: dict[str, Any]) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant": "acme",
            "okta": {"org_url": url, **okta},
            "app": {"label": "Chronosphere"},
            "scim": {"base_url": "https://x.example/scim/v2", "auth": {"bearer_token": "b"}},
        }
    )


def test_oauth_private_key_jwt_end_to_end(emulator: RunningEmulator, key_file: tuple[Path, Any]) -> None:
    config = _config(
        emulator.url,
        {
            "oauth": {
                "client_id": CLIENT_ID,
                "private_key_file": str(key_file[0]),
                "key_id": "k1",
                "scopes": SCOPES[:3],
            }
        },
    )
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path} {request.headers.get('authorization', '-')[:7]}")

    async def scenario() -> tuple[str, int, int]:
        async with open_gateway(config) as gw:
            assert isinstance(gw, SdkGateway)
            gw.transport.client.event_hooks["request"].append(record)
            app = await resolve_app(gw, config)
            groups = await gw.list_group_assignments(app.id)
            await gw.update_to_app_settings("0oazscaler0000000001", deactivate_users=True)  # okta.apps.manage
            minted = gw.transport.auth.minted  # type: ignore[union-attr]
            return app.id, len(groups), minted

    app_id, groups, minted = run(scenario())
    assert (app_id, groups, minted) == (CUSTOM_APP_ID, 0, 1)  # one token, reused
    assert seen[0] == "POST /oauth2/v1/token -"  # the token request itself carries no Authorization
    assert all(line.endswith("Bearer ") for line in seen[1:]) and len(seen) == 4


def test_oauth_missing_scope_and_unknown_client_are_auth_errors(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    def attempt(client_id: str, scopes: list[str]) -> AuthError:
        config = _config(
            emulator.url,
            {"oauth": {"client_id": client_id, "private_key_file": str(key_file[0]), "scopes": scopes}},
        )

        async def scenario() -> None:
            async with open_gateway(config) as gw:
                await gw.get_app(CUSTOM_APP_ID)

        with pytest.raises(AuthError) as caught:
            run(scenario())
        return caught.value

    scope_error = attempt(CLIENT_ID, SCOPES)  # logs.read and users.read are not granted
    assert "invalid_scope" in str(scope_error) and scope_error.hint and "scopes" in scope_error.hint
    client_error = attempt("0oaunknownclient0001", SCOPES[:1])
    assert "invalid_client" in str(client_error)


def test_admin_form_read_overlay_write_and_verify(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> tuple[Any, Any, Any]:
        gw = gateway(emulator.url, admin_session=ADMIN_SESSION)
        try:
            app = await gw.get_app(CUSTOM_APP_ID)
            before = await gw.read_admin_form(app)
            await gw.write_admin_form(app, {"deactivate_users": False}, bearer_token="rotated-scim-token")
            middle = await gw.read_admin_form(app)
            await gw.write_admin_form(app, {"scim_base_url": "https://new.example/scim/v2"})
            after = await gw.read_admin_form(app)
            return before, middle, after
        finally:
            await gw.close()

    before, middle, after = run(scenario())
    assert (
        before.deactivate_users and before.create_users and before.push_new_users and before.bearer_token_set
    )
    assert not middle.deactivate_users
    # A full post: everything not changed kept its value (no checkbox silently switched off).
    assert (middle.create_users, middle.update_user_attributes, middle.push_new_users) == (True, True, True)
    assert (middle.push_profile_updates, middle.unique_identifier, middle.auth_mode) == (
        True,
        "email",
        "header",
    )
    assert after.scim_base_url == "https://new.example/scim/v2" and not after.deactivate_users
    settings = next(a for a in emulator.control.state(secrets=True)["apps"] if a["id"] == CUSTOM_APP_ID)[
        "settings"
    ]
    assert settings["bearer_token"] == "rotated-scim-token"  # empty field on the 2nd post kept it
    history = emulator.control.settings_history(CUSTOM_APP_ID)
    assert history[-1]["source"] == "admin" and history[-1]["value"] is False
    assert "rotated-scim-token" not in caplog.text and ADMIN_SESSION not in caplog.text


def test_expired_or_missing_admin_session(emulator: RunningEmulator) -> None:
    async def read(session: str | None) -> None:
        gw = gateway(emulator.url, admin_session=session)
        try:
            await gw.read_admin_form(await gw.get_app(CUSTOM_APP_ID))
        finally:
            await gw.close()

    with pytest.raises(AdminSessionError) as missing:
        run(read(None))
    assert missing.value.hint and "admin_session" in missing.value.hint
    emulator.control.expire_admin_session(ADMIN_SESSION)
    with pytest.raises(AdminSessionError) as expired:
        run(read(ADMIN_SESSION))
    assert expired.value.hint and "sid" in expired.value.hint
    assert ADMIN_SESSION not in str(expired.value)


def test_admin_host_and_form_parsing() -> None:
    assert admin_base_url("https://acme.okta.com") == "https://acme-admin.okta.com"
    assert admin_base_url("https://acme.oktapreview.com/") == "https://acme-admin.oktapreview.com"
    assert admin_base_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123"
    page = """<html><body><span id="_xsrfToken">tok&amp;1</span><form>
      <input type="text" name="scim_base_url" value="https://a.example/v2">
      <input type="text" name="scim_unique_identifier" value="email">
      <input type="checkbox" name="pushNewUsers" checked><input type="checkbox" name="pushProfileUpdates">
      <input type="text" name="scim_auth_mode" value="header">
      <input type="password" name="scim_auth_header_value_new" value="">
      <input name="scim_auth_header_set" value="false" type="hidden">
      <input type="checkbox" name="pushNewAccount" checked="checked">
      <input type="checkbox" name="pushProfile">
      <INPUT type="checkbox" name="pushDeactivation" CHECKED></form></body></html>"""
    xsrf, form = parse_form(page)
    assert xsrf == "tok&1"
    assert (form.push_new_users, form.push_profile_updates, form.create_users) == (True, False, True)
    assert (form.update_user_attributes, form.deactivate_users, form.bearer_token_set) == (False, True, False)
    from oktasync.errors import OktaApiError

    with pytest.raises(OktaApiError, match="changed this unsupported page"):
        parse_form("<html><span id='_xsrfToken'>x</span></html>")


def test_ssws_token_never_in_errors_or_reprs(emulator: RunningEmulator) -> None:
    gw = gateway(emulator.url, API_TOKEN, admin_session=ADMIN_SESSION)
    text = repr(gw.transport.auth) + repr(gw.admin)
    run(gw.close())
    assert API_TOKEN not in text and ADMIN_SESSION not in text


def test_oauth_access_token_is_renewed_before_it_expires(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    import time

    from oktasync.okta_gateway.auth import PrivateKeyJwtAuth

    class Clock:
        offset = 0.0

        def time(self) -> float:
            return time.time() + self.offset

    clock = Clock()
    auth = PrivateKeyJwtAuth(CLIENT_ID, str(key_file[0]), SCOPES[:1], key_id="k1", clock=clock)

    async def scenario() -> list[int]:
        gw = SdkGateway(emulator.url, auth)
        try:
            minted = []
            await gw.get_app(CUSTOM_APP_ID)
            minted.append(auth.minted)
            clock.offset = 3000.0  # the emulator's tokens live 3600 s: still more than 5 minutes left
            await gw.get_app(CUSTOM_APP_ID)
            minted.append(auth.minted)
            clock.offset = 3400.0  # less than 5 minutes left: renew before using it
            await gw.get_app(CUSTOM_APP_ID)
            minted.append(auth.minted)
            return minted
        finally:
            await gw.close()

    assert run(scenario()) == [1, 1, 2]


def test_oauth_assertion_and_access_token_are_scrubbed_from_cli_output(
    emulator: RunningEmulator, key_file: tuple[Path, Any]
) -> None:
    """Minted credentials are secrets too: the CLI's error and log scrubbing knows them (audit)."""
    from oktasync.config.secret import MASK, redact
    from oktasync.okta_gateway.auth import PrivateKeyJwtAuth

    auth = PrivateKeyJwtAuth(CLIENT_ID, str(key_file[0]), SCOPES[:1], key_id="k1")
    assertion = auth.assertion(emulator.url + "/oauth2/v1/token")
    assert redact(f"client_assertion={assertion}&x=1") == f"client_assertion={MASK}&x=1"

    async def scenario() -> str:
        gw = SdkGateway(emulator.url, auth)
        try:
            await gw.get_app(CUSTOM_APP_ID)
            return await auth.header(gw.transport)
        finally:
            await gw.close()

    header = run(scenario())
    token = header.removeprefix("Bearer ")
    assert token and redact(f"Authorization: {header}") == f"Authorization: Bearer {MASK}"
