"""SdkGateway against the emulator: paging, faults, lenient parsing, errors, the wire header, okta.yaml."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import gateway, run

from oktasync.emulator.seed import build_org
from oktasync.emulator.testing import API_APP_ID, API_TOKEN, CUSTOM_APP_ID, RunningEmulator, run_emulator
from oktasync.errors import AuthError, NotFoundError, OktaApiError, TransientApiError
from oktasync.models import Connection, ToAppSettings
from oktasync.okta_gateway.sdk import SdkGateway

GROUPS_ROUTE = "GET /api/v1/apps/{app_id}/groups"
USER_GROUPS_ROUTE = "GET /api/v1/users/{user_id}/groups"


def _big_org(groups: int, users: int = 0) -> dict[str, Any]:
    seed = build_org(users=users, groups=groups, api_tokens=(API_TOKEN,))
    seed["apps"][0]["id"] = CUSTOM_APP_ID
    return seed


def test_three_pages_of_app_groups_at_limit_200() -> None:
    with run_emulator(_big_org(groups=450)) as em:

        async def scenario() -> list[Any]:
            gw = gateway(em.url)
            try:
                return await gw.list_group_assignments(CUSTOM_APP_ID)
            finally:
                await gw.close()

        assignments = run(scenario())
        stats = em.control.stats()
    assert len(assignments) == 450
    assert len({a.group_id for a in assignments}) == 450
    assert {a.group_name for a in assignments} == {f"group-{g:05d}" for g in range(450)}
    assert sorted(a.priority for a in assignments if a.priority is not None) == list(range(450))
    assert stats["by_route"][GROUPS_ROUTE] == 3  # 200 + 200 + 50: the maximum page size


def test_groups_of_a_user_all_pages_at_limit_200_in_the_users_bucket() -> None:
    """Users API "List all groups of a user": 450 groups are 3 pages (200 + 200 + 50); an unknown user is a
    NotFoundError and an error on a later page raises, never a short list."""
    seed = build_org(users=2, groups=450, memberships_per_user=450, assign_groups=0, api_tokens=(API_TOKEN,))
    with run_emulator(seed) as em:
        user = em.control.user_id("user0@example.com")
        groups = {g["id"] for g in em.control.state()["groups"]}

        async def scenario() -> tuple[list[str], list[str], int]:
            gw = gateway(em.url)
            try:
                ids = await gw.list_user_group_ids(user)
                buckets = [s.bucket for s in gw.rate_limits()]
                pages = em.control.stats()["by_route"][USER_GROUPS_ROUTE]
                with pytest.raises(NotFoundError):
                    await gw.list_user_group_ids("00unosuchuser0000000")
                em.control.faults(
                    targeted=[
                        {"path_pattern": "/groups$", "method": "GET", "nth": 2, "status": 500, "times": 50}
                    ]
                )
                with pytest.raises(TransientApiError):
                    await gw.list_user_group_ids(user)
                return ids, buckets, pages
            finally:
                await gw.close()

        ids, buckets, pages = run(scenario())
    assert len(ids) == len(set(ids)) == 450 and set(ids) == groups
    assert pages == 3  # 200 + 200 + 50: the maximum page size
    assert buckets == ["/api/v1/users"]  # rate_limit_lines.go: "/api/v1/users/ID/groups GET /api/v1/users"


def test_429_storm_and_503s_are_survived_with_the_right_data() -> None:
    with run_emulator(_big_org(groups=450, users=1100), time_scale=0.02) as em:
        em.control.faults(error_rate=0.05, error_status=503, seed=7, storm_429_seconds=1.0)

        async def scenario() -> tuple[Any, ...]:
            gw = gateway(em.url)
            try:
                groups = await gw.list_group_assignments(CUSTOM_APP_ID)
                users = await gw.list_app_users(CUSTOM_APP_ID)
                apps = await gw.find_apps("Chronosphere")
                singles = await asyncio.gather(
                    *(gw.get_group_assignment(CUSTOM_APP_ID, g.group_id) for g in groups[:120])
                )
                return groups, users, apps, singles, gw.request_count()
            finally:
                await gw.close()

        groups, users, apps, singles, sent = run(scenario())
        stats = em.control.stats()
    assert len(groups) == 450 and len(users) == 1100 and len({u.id for u in users}) == 1100
    assert [a.id for a in apps] == [CUSTOM_APP_ID]
    assert singles == groups[:120]
    assert stats["by_status"].get("429", 0) >= 1, stats
    assert stats["faults_injected"] > stats["by_status"].get("429", 0)  # some 503s were served too
    assert sent == stats["total"]  # every attempt counted


def test_an_error_mid_list_is_an_error_not_a_short_list() -> None:
    with run_emulator(_big_org(groups=450)) as em:
        # Page 2 fails every time (nth=2, and all its retries).
        em.control.faults(
            targeted=[{"path_pattern": "/groups$", "method": "GET", "nth": 2, "status": 500, "times": 50}]
        )

        async def scenario() -> None:
            gw = gateway(em.url)
            try:
                await gw.list_group_assignments(CUSTOM_APP_ID)
            finally:
                await gw.close()

        with pytest.raises(TransientApiError) as caught:
            run(scenario())
    err = caught.value
    assert err.status == 500 and err.error_code == "E0000009"
    assert err.details.request_id and err.details.request_id in str(err)
    assert err.details.causes == ["injected fault"]


def test_a_post_that_may_have_been_processed_is_not_retried(emulator: RunningEmulator) -> None:
    emulator.control.faults(targeted=[{"path_pattern": "/users$", "method": "POST", "nth": 1, "status": 503}])

    async def scenario() -> None:
        gw = gateway(emulator.url)
        try:
            await gw.transport.request("POST", f"/api/v1/apps/{CUSTOM_APP_ID}/users", json_body={"id": "x"})
        finally:
            await gw.close()

    with pytest.raises(TransientApiError):
        run(scenario())
    assert emulator.control.stats()["by_route"]["POST /api/v1/apps/{app_id}/users"] == 1


def test_lenient_parsing_of_unknown_features_and_long_or_empty_log_reasons(emulator: RunningEmulator) -> None:
    from okta.models.application import Application
    from okta.models.log_event import LogEvent as SdkLogEvent
    from pydantic import ValidationError

    state = emulator.control.state()
    long_reason = "Automatic provisioning of user failed: " + "x" * 261
    assert len(long_reason) == 300
    base = emulator.emulator.store.events[0] if emulator.emulator.store.events else None
    events = [
        _event("11111111-1111-1111-1111-111111111111", "2024-05-01T10:00:00.000Z", long_reason),
        _event("22222222-2222-2222-2222-222222222222", "2024-05-01T10:00:01.000Z", ""),
    ]
    state["events"] = events + ([base] if base else [])
    emulator.control.seed({**state, "api_tokens": [API_TOKEN]})

    async def scenario() -> tuple[Any, ...]:
        gw = gateway(emulator.url)
        try:
            app = await gw.get_app(CUSTOM_APP_ID)
            logs = await gw.list_log_events(
                since="2024-05-01T00:00:00.000Z", until="2024-05-02T00:00:00.000Z"
            )
            raw_app = await gw.transport.json("GET", f"/api/v1/apps/{CUSTOM_APP_ID}")
            return app, logs, raw_app
        finally:
            await gw.close()

    app, logs, raw_app = run(scenario())
    assert "AUTO_CONFIRM_IMPORTS" in app.features and "PUSH_NEW_USERS" in app.features
    assert [e.reason for e in logs] == [long_reason, ""]
    assert logs[0].result == "FAILURE" and logs[0].targets[0]["id"] == CUSTOM_APP_ID
    # The SDK's strict models reject exactly these answers (why we parse them ourselves):
    with pytest.raises(ValidationError):
        Application.from_dict(raw_app)
    with pytest.raises(ValidationError):
        SdkLogEvent.from_dict(events[0])


def _event(uuid: str, published: str, reason: str) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "published": published,
        "eventType": "application.provision.user.push",
        "version": "0",
        "severity": "WARN",
        "displayMessage": "Push new user to external application",
        "actor": {"id": "0oa1system00000000001", "type": "PublicClientApp"},
        "outcome": {"result": "FAILURE", "reason": reason},
        "target": [{"id": CUSTOM_APP_ID, "type": "AppInstance", "alternateId": "Chronosphere"}],
    }


def test_connection_features_and_assignments_round_trip(emulator: RunningEmulator) -> None:
    gid = emulator.control.group_id("engineering")

    async def scenario() -> None:
        gw = gateway(emulator.url)
        try:
            assert await gw.get_connection(CUSTOM_APP_ID) == Connection("UNKNOWN", "UNKNOWN", None)
            assert await gw.get_to_app_settings(CUSTOM_APP_ID) is None
            with pytest.raises(OktaApiError) as caught:
                await gw.update_to_app_settings(CUSTOM_APP_ID, deactivate_users=False)
            assert caught.value.status == 400 and caught.value.error_code == "E0000001"
            assert caught.value.details.causes  # "Provisioning is not supported."

            await gw.update_to_app_settings(API_APP_ID, deactivate_users=True)
            assert await gw.get_to_app_settings(API_APP_ID) == ToAppSettings(True, True, True)
            await gw.set_connection(API_APP_ID, "https://elsewhere.example/scim/v2", "new-token")
            await gw.activate_connection(API_APP_ID)  # 204 without a content type
            connection = await gw.get_connection(API_APP_ID)
            assert (connection.status, connection.base_url) == (
                "ENABLED",
                "https://elsewhere.example/scim/v2",
            )

            made = await gw.assign_group(CUSTOM_APP_ID, gid, 7, {"role": "viewer"})
            assert (made.group_id, made.priority, made.profile) == (gid, 7, {"role": "viewer"})
            got = await gw.get_group_assignment(CUSTOM_APP_ID, gid)
            assert got is not None and got.group_name == "engineering" and got.priority == 7
            assert emulator.control.wait_idle(10)  # Okta's assignment job creates the app users
            users = await gw.list_app_users(CUSTOM_APP_ID)
            assert {u.login for u in users} == {"alice@example.com", "bob@example.com", "carol@example.com"}
            assert {u.scope for u in users} == {"GROUP"}
            one = await gw.get_app_user(CUSTOM_APP_ID, users[0].id)
            assert one is not None and one.email == users[0].email
            updated = await gw.update_app_user(CUSTOM_APP_ID, users[0].id, {"displayName": "Renamed"})
            assert updated.profile["displayName"] == "Renamed"
            assert sorted(await gw.list_group_member_ids(gid)) == sorted(u.id for u in users)
            await gw.unassign_group(CUSTOM_APP_ID, gid)
            await gw.unassign_group(CUSTOM_APP_ID, gid)  # 404: already done
            assert await gw.get_group_assignment(CUSTOM_APP_ID, gid) is None
            assert emulator.control.wait_idle(10)  # Okta's unassignment job removes the app users
            assert await gw.get_app_user(CUSTOM_APP_ID, users[0].id) is None
            assert {s.bucket for s in gw.rate_limits()} == {"/api/v1/apps", "/api/v1/groups"}
        finally:
            await gw.close()

    run(scenario())
    state = emulator.control.state(secrets=True)
    api_app = next(a for a in state["apps"] if a["id"] == API_APP_ID)
    assert api_app["settings"]["bearer_token"] == "new-token"


def test_errors_are_translated_with_status_code_and_request_id(emulator: RunningEmulator) -> None:
    async def scenario(token: str, call: str) -> None:
        gw = gateway(emulator.url, token)
        try:
            if call == "missing":
                await gw.get_app("0oamissing000000000")
            else:
                await gw.get_app(CUSTOM_APP_ID)
        finally:
            await gw.close()

    with pytest.raises(NotFoundError) as missing:
        run(scenario(API_TOKEN, "missing"))
    assert missing.value.status == 404 and missing.value.error_code == "E0000007"
    assert missing.value.details.request_id
    with pytest.raises(AuthError) as denied:
        run(scenario("wrong-token", "app"))
    assert denied.value.status == 401 and denied.value.error_code == "E0000011"
    assert denied.value.hint and "scopes" in denied.value.hint
    assert "wrong-token" not in str(denied.value)


def test_wire_header_is_exactly_ssws_space_token(emulator: RunningEmulator) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.headers["authorization"])

    async def scenario() -> Any:
        gw = gateway(emulator.url)
        gw.transport.client.event_hooks["request"].append(record)
        try:
            await gw.get_app(CUSTOM_APP_ID)  # raw JSON path
            await gw.activate_connection(API_APP_ID)  # generated SDK API class path
            return await gw.get_connection(API_APP_ID)
        finally:
            await gw.close()

    assert run(scenario()).status == "ENABLED"
    assert seen == [f"SSWS {API_TOKEN}"] * 3


def test_the_generated_sdk_client_alone_sends_no_space_and_is_rejected(emulator: RunningEmulator) -> None:
    """Why the gateway builds the header itself: the SDK's own path answers 401 E0000011 here."""
    import aiohttp
    from okta.api.application_api import ApplicationApi
    from okta.cache.no_op_cache import NoOpCache
    from okta.request_executor import RequestExecutor

    settings = {
        "client": {
            "orgUrl": emulator.url,
            "token": API_TOKEN,
            "authorizationMode": "SSWS",
            "rateLimit": {"maxRetries": 0},
            "requestTimeout": 0,
        }
    }
    api = ApplicationApi(settings)
    assert api.configuration.auth_settings()["oauth2"]["value"] == f"SSWS{API_TOKEN}"

    async def scenario() -> Any:
        async with aiohttp.ClientSession() as session:
            api._request_executor = RequestExecutor(settings, NoOpCache())
            api._request_executor.set_session(session)
            return await api.get_application(CUSTOM_APP_ID)

    _, response, error = run(scenario())
    assert error is not None and response.status == 401
    assert "E0000011" in str(error)


def test_stray_okta_yaml_and_okta_env_change_nothing(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    decoy = (
        "okta:\n  client:\n    orgUrl: https://decoy.okta.com\n    token: decoy-token\n"
        "    authorizationMode: Bearer\n  testing:\n    testingDisableHttpsCheck: true\n"
    )
    Path("okta.yaml").write_text(decoy)  # the test's working directory
    home = tmp_path / "home"
    (home / ".okta").mkdir(parents=True)
    (home / ".okta" / "okta.yaml").write_text(decoy)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OKTA_CLIENT_ORGURL", "https://decoy.okta.com")
    monkeypatch.setenv("OKTA_CLIENT_TOKEN", "decoy-token")
    monkeypatch.setenv("OKTA_CLIENT_AUTHORIZATIONMODE", "Bearer")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(f"{request.url.host}:{request.url.port} {request.headers['authorization']}")

    async def scenario() -> Any:
        gw = gateway(emulator.url)
        gw.transport.client.event_hooks["request"].append(record)
        try:
            await gw.update_to_app_settings(API_APP_ID, create_users=False)  # generated SDK class path
            return await gw.get_to_app_settings(API_APP_ID)
        finally:
            await gw.close()

    assert run(scenario()) == ToAppSettings(False, True, False)
    port = emulator.url.rsplit(":", 1)[1]
    assert seen == [f"127.0.0.1:{port} SSWS {API_TOKEN}"] * 2


def test_org_url_must_be_https_unless_loopback() -> None:
    from oktasync.errors import ConfigError

    with pytest.raises(ConfigError, match="must use https"):
        gateway("http://acme.okta.com")
    with pytest.raises(ConfigError, match="-admin"):
        gateway("https://acme-admin.okta.com")
    gw = gateway("https://acme.okta.com/")
    assert gw.org_url == "https://acme.okta.com"
    run(gw.close())


def test_open_gateway_uses_the_config(emulator: RunningEmulator) -> None:
    from oktasync.config.schema import TenantConfig
    from oktasync.okta_gateway import open_gateway, resolve_app

    config = TenantConfig.model_validate(
        {
            "tenant": "acme",
            "okta": {"org_url": emulator.url, "token": API_TOKEN, "max_concurrency": 3},
            "app": {"label": "Chronosphere"},
            "scim": {"base_url": "https://x.example/scim/v2", "auth": {"bearer_token": "b"}},
        }
    )

    async def scenario() -> tuple[str, bool, int]:
        async with open_gateway(config) as gw:
            app = await resolve_app(gw, config)
            assert isinstance(gw, SdkGateway) and gw.pacer.max_concurrency == 3
            return app.id, gw.has_admin_session(), gw.request_count()

    assert run(scenario()) == (CUSTOM_APP_ID, False, 1)


def test_only_the_sdk_pieces_a_call_needs_are_imported(emulator: RunningEmulator) -> None:
    """A command that calls Okta never pays for ``okta.client`` (every API class, ~4 s here)."""
    import subprocess
    import sys

    script = f"""
import asyncio, sys
from oktasync.okta_gateway.auth import SswsAuth
from oktasync.okta_gateway.sdk import SdkGateway
assert "okta" not in sys.modules
async def main():
    gw = SdkGateway({emulator.url!r}, SswsAuth({API_TOKEN!r}))
    await gw.get_app({CUSTOM_APP_ID!r})
    raw = sorted(m for m in sys.modules if m == "okta" or m.startswith("okta."))
    await gw.update_to_app_settings({API_APP_ID!r}, deactivate_users=True)
    await gw.close()
    print(len(raw), "okta.client" in sys.modules, "okta.api.application_features_api" in sys.modules,
          "okta.api.user_api" in sys.modules)
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["0", "False", "True", "False"]


def test_dropped_connections_are_retried_for_reads() -> None:
    with run_emulator(_big_org(groups=450)) as em:
        # Page 2 is dropped twice (status 0 = close the connection without answering), then served.
        em.control.faults(
            targeted=[{"path_pattern": "/groups$", "method": "GET", "nth": 2, "status": 0, "times": 2}]
        )

        async def scenario() -> int:
            gw = gateway(em.url)
            try:
                return len(await gw.list_group_assignments(CUSTOM_APP_ID))
            finally:
                await gw.close()

        assert run(scenario()) == 450
        stats = em.control.stats()
        assert stats["faults_injected"] == 2 and stats["by_route"][GROUPS_ROUTE] == 5
