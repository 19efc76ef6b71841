"""OAuth private_key_jwt end to end, and the Admin Console channel, against the emulator."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from gateway_helpers import FakeClock, gateway, run

from oktasync.config.schema import TenantConfig
from oktasync.emulator.testing import (
    ADMIN_SESSION,
    ADMIN_XSRF,
    API_TOKEN,
    CUSTOM_APP_ID,
    RunningEmulator,
    run_emulator,
    standard_seed,
)
from oktasync.errors import AdminSessionError, AuthError, OktaApiError
from oktasync.okta_gateway import open_gateway, resolve_app
from oktasync.okta_gateway.admin import (
    CI_VARIABLES,
    ConsolePacer,
    admin_base_url,
    parse_admin_session,
    parse_page,
)
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


VARIANTS = ("evidence", "full", "relabelled", "without_deactivate")
ON_EVERY_PAGE = {"scim_base_url", "create_users", "update_user_attributes", "bearer_token"}
NOT_EVIDENCED = {"unique_identifier", "push_new_users", "push_profile_updates", "auth_mode"}


@pytest.fixture(params=VARIANTS)
def console(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """The standard org with the Admin Console serving one page variant."""
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    with run_emulator(seed, api_token=API_TOKEN, behaviour={"admin_form": request.param}) as running:
        yield running


def _settings(em: RunningEmulator) -> dict[str, Any]:
    app = next(a for a in em.control.state(secrets=True)["apps"] if a["id"] == CUSTOM_APP_ID)
    settings: dict[str, Any] = app["settings"]
    return settings


def test_admin_form_reads_and_writes_what_each_page_offers(
    console: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    variant = console.control.behaviour()["admin_form"]

    async def scenario() -> tuple[Any, Any, Any]:
        gw = gateway(console.url, admin_session=ADMIN_SESSION)
        try:
            app = await gw.get_app(CUSTOM_APP_ID)
            before = await gw.read_admin_form(app)
            change = (
                {"deactivate_users": False} if before.has("deactivate_users") else {"create_users": False}
            )
            await gw.write_admin_form(app, change, bearer_token="rotated-scim-token")
            middle = await gw.read_admin_form(app)
            await gw.write_admin_form(app, {"scim_base_url": "https://new.example/scim/v2"})
            after = await gw.read_admin_form(app)
            return before, middle, after
        finally:
            await gw.close()

    before, middle, after = run(scenario())
    expected = ON_EVERY_PAGE | (NOT_EVIDENCED if variant in ("full", "relabelled") else set())
    expected |= set() if variant == "without_deactivate" else {"deactivate_users"}
    assert before.found == expected
    assert before.found_by_label == (expected if variant == "relabelled" else expected & NOT_EVIDENCED)
    assert before.bearer_token_set is None  # no public source shows how the page says a token is set
    assert before.create_users and before.update_user_attributes
    changed = "deactivate_users" if before.has("deactivate_users") else "create_users"
    assert getattr(middle, changed) is False
    # A full post: everything not changed kept its value (no checkbox silently switched off).
    kept = {"create_users", "update_user_attributes", "deactivate_users"} & before.found - {changed}
    assert all(getattr(middle, name) is True for name in kept)
    settings = _settings(console)
    assert (settings["push_new_users"], settings["push_profile_updates"], settings["unique_identifier"]) == (
        True,
        True,
        "email",
    )
    assert after.scim_base_url == "https://new.example/scim/v2" and getattr(after, changed) is False
    assert settings["bearer_token"] == "rotated-scim-token"  # the empty field of the 2nd post kept it
    assert settings["deactivate_users"] is (changed != "deactivate_users")
    assert "rotated-scim-token" not in caplog.text and ADMIN_SESSION not in caplog.text


@pytest.mark.parametrize("variant", ["evidence", "relabelled"])
def test_an_unchecked_box_is_turned_off_with_its_marker(variant: str) -> None:
    """The box is left out of the post and its Spring marker ``_name=on`` is sent (rendered by the page, or
    added by oktasync when the page does not render it): the console then really turns it off."""
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    posted: list[list[tuple[str, str]]] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            posted.append(parse_qsl(request.content.decode(), keep_blank_values=True))

    with run_emulator(seed, api_token=API_TOKEN, behaviour={"admin_form": variant}) as em:

        async def scenario() -> Any:
            gw = gateway(em.url, admin_session=ADMIN_SESSION)
            assert gw.admin is not None
            gw.admin.client.event_hooks["request"].append(record)
            try:
                app = await gw.get_app(CUSTOM_APP_ID)
                await gw.write_admin_form(app, {"deactivate_users": False})
                return await gw.read_admin_form(app)
            finally:
                await gw.close()

        form = run(scenario())
        assert form.deactivate_users is False and _settings(em)["deactivate_users"] is False
    (body,) = posted
    names = [name for name, _ in body]
    box = "pushDeactivation" if variant == "evidence" else next(n for n in names if n.endswith("_checkbox"))
    if variant == "evidence":
        assert "pushDeactivation" not in names and ("_pushDeactivation", "on") in body
        assert ("pushNewAccount", "true") in body and ("_pushNewAccount", "on") in body
    else:  # relabelled: no marker on the page, oktasync adds one per checkbox
        markers = [n for n in names if n.startswith("_") and n != "_xsrfToken"]
        boxes = {n.lstrip("_") for n in markers}
        assert boxes and all(n.endswith("_checkbox") for n in boxes) and box in boxes
    assert names[0] == "_xsrfToken" and names.count("_xsrfToken") == 1


def test_a_post_without_the_marker_leaves_the_box_on() -> None:
    """Why the markers matter: Spring leaves a property alone when neither the box nor its marker is sent."""
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    with run_emulator(seed, api_token=API_TOKEN) as em:
        em.http.cookies.set("sid", ADMIN_SESSION)
        url = f"/admin/app/chronosphere_scim/instance/{CUSTOM_APP_ID}/settings/user-mgmt"
        headers = {"X-Okta-XsrfToken": ADMIN_XSRF, "X-Requested-With": "XMLHttpRequest"}
        assert em.http.post(url, data={"pushNewAccount": "true"}, headers=headers).status_code == 200
        assert _settings(em)["deactivate_users"] is True
        body = {"pushNewAccount": "true", "_pushDeactivation": "on"}
        assert em.http.post(url, data=body, headers=headers).status_code == 200
        assert _settings(em)["deactivate_users"] is False


@pytest.mark.parametrize(
    ("value", "cookies"),
    [
        ("abc123", {"sid": "abc123"}),
        ("Cookie: sid=abc; JSESSIONID=J1 ; xids=x=y", {"sid": "abc", "JSESSIONID": "J1", "xids": "x=y"}),
        ("sid=abc", {"sid": "abc"}),
        (
            "# Netscape HTTP Cookie File\n"
            ".acme-admin.okta.com\tTRUE\t/\tTRUE\t0\tsid\tS1\n"
            "#HttpOnly_acme-admin.okta.com\tFALSE\t/\tTRUE\t4102444800\tJSESSIONID\tJ1\n"
            "acme-admin.okta.com\tFALSE\t/\tTRUE\t1000\told\texpired\n"
            "acme.okta.com\tFALSE\t/\tTRUE\t0\tsid\tnot-the-admin-host\n",
            {"sid": "S1", "JSESSIONID": "J1"},
        ),
    ],
    ids=["bare-sid", "cookie-header", "one-cookie", "cookies-txt"],
)
def test_admin_session_formats(value: str, cookies: dict[str, str]) -> None:
    assert parse_admin_session(value, "acme-admin.okta.com", now=2_000_000_000) == cookies


@pytest.mark.parametrize(
    "value",
    ["not a cookie; at all", "acme.okta.com\tFALSE\t/\tTRUE\t0\tsid\tS1\n"],
    ids=["garbage", "no-cookie-for-admin-host"],
)
def test_unusable_admin_session_is_a_clear_error(value: str) -> None:
    with pytest.raises(AdminSessionError) as error:
        parse_admin_session(value, "acme-admin.okta.com")
    assert "S1" not in str(error.value) and error.value.hint and "cookies.txt" in error.value.hint


def test_the_whole_cookie_jar_is_sent() -> None:
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["admin_sessions"] = [
        {"id": ADMIN_SESSION, "xsrf_token": ADMIN_XSRF, "cookies": {"JSESSIONID": "J1"}}
    ]
    with run_emulator(seed, api_token=API_TOKEN) as em:

        async def read(session: str) -> Any:
            gw = gateway(em.url, admin_session=session)
            try:
                return await gw.read_admin_form(await gw.get_app(CUSTOM_APP_ID))
            finally:
                await gw.close()

        with pytest.raises(AdminSessionError):
            run(read(ADMIN_SESSION))  # sid alone is not this session
        assert run(read(f"sid={ADMIN_SESSION}; JSESSIONID=J1")).has("scim_base_url")


def _read_error(em: RunningEmulator) -> AdminSessionError:
    async def read() -> None:
        gw = gateway(em.url, admin_session=ADMIN_SESSION)
        try:
            await gw.read_admin_form(await gw.get_app(CUSTOM_APP_ID))
        finally:
            await gw.close()

    with pytest.raises(AdminSessionError) as error:
        run(read())
    assert ADMIN_SESSION not in str(error.value) + str(error.value.hint)
    return error.value


def test_idle_and_network_bound_sessions_are_refused_with_their_likely_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    seed = standard_seed(scim_base_url="https://scim.example.test/scim/v2")
    seed["admin_sessions"] = [{"id": ADMIN_SESSION, "xsrf_token": ADMIN_XSRF, "idle_seconds": 901}]
    with run_emulator(seed, api_token=API_TOKEN) as em:
        idle = _read_error(em)
    assert "expired" in idle.message and "15 minutes" in idle.message

    seed["admin_sessions"] = [{"id": ADMIN_SESSION, "xsrf_token": ADMIN_XSRF, "network": "admin-laptop"}]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with run_emulator(seed, api_token=API_TOKEN, behaviour={"admin_network_binding": True}) as em:
        bound = _read_error(em)
        assert em.control.state()["admin_sessions"] == []  # Okta revokes the session
    assert "CI job" in bound.message and "network" in bound.message and "GITHUB_ACTIONS" in bound.message


@pytest.mark.parametrize("in_ci", [False, True])
def test_expired_or_missing_admin_session(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, in_ci: bool
) -> None:
    # The message names the likely cause from the run's environment: set it, whatever runs the suite.
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if in_ci:
        monkeypatch.setenv("CI", "true")

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
    if in_ci:  # a session copied into a CI job was most likely revoked for its network
        assert "CI set" in str(expired.value) and "network" in str(expired.value)
        assert expired.value.hint and "network where the admin signs in" in expired.value.hint
    else:
        assert expired.value.hint and "cookies" in expired.value.hint
    assert ADMIN_SESSION not in str(expired.value)


def test_console_pacer_keeps_each_endpoint_under_40_per_10_seconds() -> None:
    clock = FakeClock(now=0.0)
    pacer = ConsolePacer(headroom=0.1, clock=clock.time, sleep=clock.sleep)

    async def burst() -> None:
        for _ in range(80):
            await pacer.wait("/admin/app/x/instance/1/settings/user-mgmt")
        await pacer.wait("/admin/app/y/instance/2/settings/user-mgmt")  # another endpoint: its own window

    run(burst())
    sent = list(pacer.sent["/admin/app/x/instance/1/settings/user-mgmt"])
    assert pacer.limit == 36
    assert all(
        sum(1 for t in sent if start <= t < start + 10.0) <= 36 for start in sent
    )  # any 10-second window
    assert clock.now == pytest.approx(20.0) and pacer.sent["/admin/app/y/instance/2/settings/user-mgmt"]


def test_admin_host_and_page_parsing() -> None:
    assert admin_base_url("https://acme.okta.com") == "https://acme-admin.okta.com"
    assert admin_base_url("https://acme.oktapreview.com/") == "https://acme-admin.oktapreview.com"
    assert admin_base_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123"
    page = parse_page(
        """<html><body><span id="_xsrfToken">tok&amp;1</span>
      <form action="/search"><input name="q" value="x"></form>
      <form action="settings/user-mgmt">
      <label for="u">SCIM connector base URL:</label><input id="u" type="text" name="u1" value="https://a/v2">
      <label><input type="checkbox" name="b1" value="true" checked> Push  New Users</label>
      <input type="checkbox" id="userMgmtSettings.pushDeactivation" name="pd" CHECKED>
      <input type="checkbox" name="pushProfile" disabled checked>
      <label for="m">Authentication Mode</label>
      <select id="m" name="m"><option value="basic">Basic</option><option selected>header</option></select>
      <input type="submit" name="go" value="Save"></form></body></html>"""
    )
    assert page.xsrf == "tok&1"
    form = page.read()
    assert (form.scim_base_url, form.push_new_users, form.deactivate_users, form.auth_mode) == (
        "https://a/v2",
        True,
        True,
        "header",
    )
    assert not form.has("update_user_attributes")  # a disabled control is not part of the form
    assert form.found_by_label == {"scim_base_url", "push_new_users", "auth_mode"}
    body = page.body({"push_new_users": False}, None)
    assert ("b1", "true") not in body and ("_b1", "on") in body and ("pd", "on") in body
    assert ("q", "x") not in body and ("m", "header") in body and not [n for n, _ in body if n == "go"]
    with pytest.raises(ValueError, match="no field for the Bearer token"):
        page.body({}, "token")
    assert ("m", "header") in page.body({"auth_mode": "HEADER"}, None)  # the page's own spelling
    with pytest.raises(OktaApiError, match="has no option 'oauth'"):
        page.body({"auth_mode": "oauth"}, None)


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
