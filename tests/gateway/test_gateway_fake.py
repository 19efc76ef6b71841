"""FakeGateway keeps Okta's semantics; resolve_app finds the app by id or exact label."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from oktasync.config.schema import TenantConfig
from oktasync.errors import AdminSessionError, OktaApiError, OktasyncError
from oktasync.models import AppKind, Connection, ToAppSettings
from oktasync.okta_gateway import FakeGateway, resolve_app

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config(**app: str) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant": "acme",
            "okta": {"org_url": "https://acme.okta.com", "token": "t"},
            "app": app,
            "scim": {"base_url": "https://acme.example/scim/v2", "auth": {"bearer_token": "b"}},
        }
    )


def test_custom_scim_app_has_no_api_channel() -> None:
    fake = FakeGateway()
    app = fake.add_app("Chronosphere", create_users=True)
    assert "AUTO_CONFIRM_IMPORTS" in app.features and "PUSH_NEW_USERS" in app.features

    async def scenario() -> None:
        await fake.set_connection(app.id, "https://x/scim", "tok")
        assert await fake.get_connection(app.id) == Connection("UNKNOWN", "UNKNOWN", None)
        assert await fake.get_to_app_settings(app.id) is None
        with pytest.raises(OktaApiError) as caught:
            await fake.update_to_app_settings(app.id, deactivate_users=False)
        assert caught.value.status == 400 and caught.value.error_code == "E0000001"

    run(scenario())
    assert fake.state(app.id).scim_base_url is None
    assert ("set_connection", (app.id, "https://x/scim", "(sensitive)")) in fake.calls


def test_api_capable_app_partial_feature_update() -> None:
    fake = FakeGateway()
    app = fake.add_app("Org2Org", name="okta_org2org", kind=AppKind.API_CAPABLE, create_users=True)

    async def scenario() -> ToAppSettings | None:
        await fake.set_connection(app.id, "https://x/scim", "tok")
        await fake.activate_connection(app.id)
        assert (await fake.get_connection(app.id)).status == "ENABLED"
        await fake.update_to_app_settings(app.id, deactivate_users=True)
        return await fake.get_to_app_settings(app.id)

    assert run(scenario()) == ToAppSettings(True, False, True)


def test_admin_form_is_a_full_post_and_needs_a_session() -> None:
    fake = FakeGateway()
    app = fake.add_app("Chronosphere", push_new_users=True, create_users=True, deactivate_users=True)
    with pytest.raises(AdminSessionError):
        run(fake.read_admin_form(app))
    fake.admin_session = True

    async def scenario() -> None:
        await fake.write_admin_form(app, {"deactivate_users": False}, bearer_token="secret-token")
        form = await fake.read_admin_form(app)
        assert form.deactivate_users is False
        assert form.push_new_users and form.create_users  # untouched fields keep their values
        assert form.bearer_token_set

    run(scenario())
    assert "secret-token" not in repr(fake.calls) + repr(fake.state(app.id).admin_posts)
    with pytest.raises(ValueError):
        run(fake.write_admin_form(app, {"bearer_token_set": True}))
    fake.admin_session_valid = False
    with pytest.raises(AdminSessionError):
        run(fake.read_admin_form(app))


def test_group_assignments_keep_priority_profile_and_entitle_members() -> None:
    fake = FakeGateway()
    app = fake.add_app("Chronosphere")
    g1 = fake.add_group("eng", ["a@x", "b@x"])
    g2 = fake.add_group("ops", ["b@x"])

    async def scenario() -> None:
        first = await fake.assign_group(app.id, g1, None, {"role": "admin"})
        second = await fake.assign_group(app.id, g2, None, {})
        assert (first.priority, second.priority) == (0, 1)
        assert {u.scope for u in await fake.list_app_users(app.id)} == {"GROUP"}
        assert len(await fake.list_app_users(app.id)) == 2
        await fake.unassign_group(app.id, g1)
        await fake.unassign_group(app.id, g1)  # already gone: no error
        users = await fake.list_app_users(app.id)
        assert [fake.users[u.id]["login"] for u in users] == ["b@x"]  # ops still entitles b
        listed = await fake.list_group_assignments(app.id)
        assert [(a.group_id, a.priority, a.group_name) for a in listed] == [(g2, 1, "ops")]
        assert await fake.get_group_assignment(app.id, g1) is None

    run(scenario())


def test_log_filter_and_injected_failure() -> None:
    fake = FakeGateway()
    fake.add_log_event(
        "application.provision.user.push",
        result="FAILURE",
        reason="x" * 300,
        targets=[{"id": "0oa1", "type": "AppInstance"}],
        published="2024-01-01T00:00:01.000Z",
    )
    fake.add_log_event("application.provision.user.push", published="2024-01-01T00:00:02.000Z")
    fake.fail_next("list_log_events", OktaApiError("boom"))

    async def scenario() -> None:
        with pytest.raises(OktaApiError):
            await fake.list_log_events(since="2024-01-01T00:00:00.000Z")
        found = await fake.list_log_events(
            since="2024-01-01T00:00:00.000Z", filter='outcome.result eq "FAILURE" and target.id eq "0oa1"'
        )
        assert len(found) == 1 and found[0].reason == "x" * 300

    run(scenario())
    assert fake.request_count() == 2


def test_resolve_app_by_id_label_none_and_ambiguous() -> None:
    fake = FakeGateway()
    app = fake.add_app("Chronosphere")
    assert run(resolve_app(fake, config(label="Chronosphere"))).id == app.id
    assert run(resolve_app(fake, config(id=app.id))).id == app.id
    with pytest.raises(OktasyncError, match="no app with id"):
        run(resolve_app(fake, config(id="0oamissing")))
    with pytest.raises(OktasyncError, match="no app labelled 'chronosphere'") as none:
        run(resolve_app(fake, config(label="chronosphere")))
    assert none.value.hint and "app.id" in none.value.hint
    other = fake.add_app("Chronosphere", name="saml_copy", status="INACTIVE")
    with pytest.raises(OktasyncError) as many:
        run(resolve_app(fake, config(label="Chronosphere")))
    text = str(many.value)
    assert app.id in text and other.id in text and "saml_copy" in text and "INACTIVE" in text
